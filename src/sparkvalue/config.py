"""Load and validate the configuration once.

`load_config(env)` reads `conf/base.yaml`, deep-merges `conf/<env>.yaml` over it,
and validates the result. Every problem is reported with the file(s) and the
dotted key, for example::

    conf/local.yaml: spark.driver_memry: unknown key
    conf/base.yaml + conf/local.yaml: paths.landing: required key is missing
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ConfigError(ValueError):
    """The configuration cannot be used; the message names the file and key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Paths(_Section):
    landing: str
    lakehouse: str
    truth: str
    mlflow_tracking_uri: str
    mlflow_artifacts: str
    checkpoints: str
    shared_tmp: str | None = None  # storage the driver and every executor reach (MLflow moves models there)


class SparkSettings(_Section):
    master: str | None = None
    app_name: str = "sparkvalue"
    driver_memory: str = "4g"
    shuffle_partitions: int = Field(8, ge=1)
    jars_dir: str | None = None
    conf: dict[str, str] = Field(default_factory=dict)

    @field_validator("conf", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value


class Privacy(_Section):
    key_env: str
    key_file: str
    create_key_file: bool = False
    id_length: int = Field(20, ge=16, le=64)


class Serving(_Section):
    """The servers that read the lakehouse: Spark's Thrift JDBC/ODBC server and MLflow's."""

    sql_host: str = "127.0.0.1"       # loopback unless configured otherwise
    sql_port: int = Field(10000, ge=1, le=65535)
    metastore: str = ".data/metastore"  # Derby metastore of the JDBC server's database names
    mlflow_host: str = "127.0.0.1"
    mlflow_port: int = Field(5000, ge=1, le=65535)
    mlflow_backend_store: str = "sqlite:///.data/mlflow/mlflow.db"  # the tracking server's store


class Generate(_Section):
    subscribers: int = Field(ge=2048)  # the call-circle layout needs two clusters
    months: int = Field(ge=2, le=60)
    end_month: str = Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    seed: int
    edges_per_subscriber: float = Field(gt=0, le=500)
    edge_months: int | None = Field(None, ge=1)
    format: Literal["csv", "parquet"] = "csv"
    files_per_month: int = Field(2, ge=1, le=1000)


class Ingest(_Section):
    format: Literal["csv", "parquet"] = "csv"
    quarantine_table: str = "quarantine"


class Graph(_Section):
    hub_min_in_degree: int = Field(ge=2)
    strong_tie_minutes: float = Field(ge=0)
    pagerank_reset_probability: float = Field(gt=0, lt=1)
    max_iter: int = Field(ge=1, le=500)
    pagerank_tol: float = Field(gt=0)


class ValueTiers(_Section):
    high: float = Field(gt=0, lt=1)
    mid_high: float = Field(gt=0, lt=1)
    mid: float = Field(gt=0, lt=1)
    low: float = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _sum_to_one(self) -> ValueTiers:
        total = self.high + self.mid_high + self.mid + self.low
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"tier shares must add up to 1, they add up to {total:g}")
        return self


class AhpMatrix(_Section):
    names: tuple[str, ...]
    matrix: tuple[tuple[float | str, ...], ...]


class Ahp(_Section):
    groups: AhpMatrix
    members: dict[str, AhpMatrix]

    @model_validator(mode="after")
    def _members_match_groups(self) -> Ahp:
        if set(self.members) != set(self.groups.names):
            raise ValueError(f"members {sorted(self.members)} must be the groups "
                             f"{list(self.groups.names)}")
        return self


class Value(_Section):
    tiers: ValueTiers
    ahp: Ahp
    robust_quantiles: tuple[float, float]
    key_person_bonus: float = Field(ge=0, le=100)
    snapshot_month: str | None = Field(None, pattern=r"^\d{4}-(0[1-9]|1[0-2])$")
    snapshot_min_revenue: float = Field(ge=0)
    clv_horizon_months: int = Field(ge=1, le=240)
    clv_annual_discount_rate: float = Field(ge=0, lt=1)

    @model_validator(mode="after")
    def _quantiles(self) -> Value:
        low, high = self.robust_quantiles
        if not 0 <= low < high <= 1:
            raise ValueError(f"robust_quantiles must satisfy 0 <= low < high <= 1, got {low}, {high}")
        return self


class StickinessTiers(_Section):
    high: float = Field(ge=0, le=100)
    mid: float = Field(ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> StickinessTiers:
        if self.mid >= self.high:
            raise ValueError(f"mid ({self.mid}) must be below high ({self.high})")
        return self


class Stickiness(_Section):
    tiers: StickinessTiers
    horizon_months: int = Field(ge=1, le=12)


class Anomaly(_Section):
    flag_threshold: float = Field(ge=0, le=100)
    horizon_months: int = Field(ge=1, le=12)


class Models(_Section):
    holdout_months: int = Field(ge=1, le=12)
    train_months: int | None = Field(None, ge=1, le=120)  # the latest n before the held-out; None: all
    max_depth: int = Field(ge=1, le=30)
    min_instances_per_node: int = Field(ge=1)
    max_bins: int = Field(ge=2)
    fit_sample: int = Field(ge=1000)
    seed: int
    champion_tolerance: float = Field(ge=0, le=1)
    name_prefix: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    concurrent_fits: int = Field(2, ge=1, le=16)  # models trained at once (threads of one Spark app)


SERVICE_REVENUE = {"news": "vas_news_rev", "crbt": "vas_crbt_rev", "data_pack": "vas_data_pack_rev"}


class SegmentGroupRule(_Section):
    group: Literal["marketing_first", "retention_first", "corporate_related", "do_not_market"]
    when: str = Field(min_length=1)  # Spark SQL on a segment's profile


class Segments(_Section):
    features: tuple[str, ...] = Field(min_length=2)
    k_range: tuple[int, int]
    fit_sample: int = Field(ge=1000)
    distinguishing_features: int = Field(ge=1, le=10)
    groups: tuple[SegmentGroupRule, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _range(self) -> Segments:
        from sparkvalue.models.segments import LABELS

        unknown = [f for f in self.features if f not in LABELS]
        if unknown or len(set(self.features)) != len(self.features):
            raise ValueError(f"features must be distinct usage columns of {sorted(LABELS)}; "
                             f"got {list(self.features)}")
        low, high = self.k_range
        if not 2 <= low <= high <= 50:
            raise ValueError(f"k_range must satisfy 2 <= low <= high <= 50, got [{low}, {high}]")
        return self


class PropensityModel(_Section):
    service: str
    population: str = Field(min_length=1)  # Spark SQL on silver: who the offer is for
    description: str = ""

    @model_validator(mode="after")
    def _service(self) -> PropensityModel:
        if self.service not in SERVICE_REVENUE:
            raise ValueError(f"service {self.service!r} has no revenue column; "
                             f"known: {sorted(SERVICE_REVENUE)}")
        return self


class Propensity(_Section):
    horizon_months: int = Field(ge=1, le=12)
    max_depth: int = Field(ge=1, le=30)
    min_instances_per_node: int = Field(ge=1)
    scorer: Literal["logistic", "leaf"] = "logistic"
    reg_param: float = Field(0.01, ge=0)
    models: dict[str, PropensityModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _names(self) -> Propensity:
        bad = [n for n in self.models if not re.fullmatch(r"[A-Za-z0-9_]+", n)]
        if bad:
            raise ValueError(f"model names may hold letters, digits and '_' only: {bad}")
        return self


class LongDistance(_Section):
    min_minutes: float = Field(ge=0)
    min_share: float = Field(gt=0, le=1)


VALUE_TIERS = ("high", "mid_high", "mid", "low")
STICKINESS_TIERS = ("high", "mid", "low")
SEGMENT_GROUPS = ("marketing_first", "retention_first", "corporate_related", "do_not_market")
STRATEGIES = ("retention_top", "retention_second", "marketing_led", "moderate_marketing", "do_not_disturb")
MATRIX_DIMENSIONS = {"value": VALUE_TIERS, "stickiness": STICKINESS_TIERS, "anomaly": (True, False),
                     "group": SEGMENT_GROUPS}


class MatrixRule(_Section):
    """One row of the marketing matrix; "*" (the default) matches every value of a dimension."""

    value: Literal["*"] | tuple[Literal["high", "mid_high", "mid", "low"], ...] = "*"
    stickiness: Literal["*"] | tuple[Literal["high", "mid", "low"], ...] = "*"
    anomaly: Literal["*"] | bool = "*"
    group: Literal["*"] | tuple[Literal["marketing_first", "retention_first", "corporate_related",
                                        "do_not_market"], ...] = "*"
    strategy: Literal["retention_top", "retention_second", "marketing_led", "moderate_marketing",
                      "do_not_disturb"]

    def values(self, dimension: str) -> tuple:
        chosen = getattr(self, dimension)
        if chosen == "*":
            return MATRIX_DIMENSIONS[dimension]
        return (chosen,) if isinstance(chosen, bool) else chosen


# The campaign library's code (MISSION.md item 9, seed 营销活动编码): four digits, offer
# type x method x requirement x gift, then a dash and a mnemonic, e.g. 2111-PREPAY200.
OFFER_CODE_PARTS = {
    "type": {"1": "uplift", "2": "retention", "3": "care"},
    "method": {"1": "gift", "2": "discount", "3": "lottery", "4": "trial", "5": "service"},
    "requirement": {"0": "none", "1": "prepay", "2": "minimum_spend", "3": "plan_change",
                    "4": "tenure_commitment", "5": "take_service"},
    "gift": {"1": "credit", "2": "handset", "3": "minutes", "4": "data", "5": "shopping_card",
             "6": "service"},
}
OFFER_SLOTS = ("retention", "service", "usage")
CHANNELS = ("outbound_call", "sms", "store", "app")
CADENCES = ("monthly_batch", "daily_trigger")


class Offer(_Section):
    """One offer of the catalog; the expressions are Spark SQL over the offer frame's columns."""

    code: str = Field(pattern=r"^\d{4}-[A-Z0-9][A-Z0-9-]*$")  # digits checked below
    name: str = Field(min_length=1)
    slot: Literal["retention", "service", "usage"]
    family: str = Field(min_length=1)  # discounts of one family are never stacked
    cost: float = Field(ge=0)          # yuan per subscriber who takes it
    channels: tuple[Literal["outbound_call", "sms", "store", "app"], ...] = Field(min_length=1)
    cadence: Literal["monthly_batch", "daily_trigger"]
    propensity: str = Field(min_length=1)   # probability the subscriber takes it (0-1)
    eligibility: str = Field(min_length=1)  # who may get it
    exclusions: tuple[str, ...] = ()        # who may not, whatever the eligibility says

    def decoded(self) -> dict[str, str]:
        """The code's four digits in words: type, method, requirement, gift."""
        return {part: OFFER_CODE_PARTS[part][digit]
                for part, digit in zip(OFFER_CODE_PARTS, self.code[:4], strict=True)}

    def expressions(self) -> dict[str, str]:
        """Every Spark SQL expression of the offer by its place, e.g. `exclusions[1]`."""
        out = {"propensity": self.propensity, "eligibility": self.eligibility}
        out.update({f"exclusions[{i}]": e for i, e in enumerate(self.exclusions)})
        return out

    @model_validator(mode="after")
    def _digits(self) -> Offer:
        bad = [f"{part} digit {digit!r}" for part, digit in zip(OFFER_CODE_PARTS, self.code[:4], strict=True)
               if digit not in OFFER_CODE_PARTS[part]]
        if bad:
            raise ValueError(f"offer {self.code}: unknown {', '.join(bad)}")
        return self


class Exclusion(_Section):
    """A global exclusion: no offer at all for subscribers where `when` is true."""

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    reason: str = Field(min_length=1)
    when: str = Field(min_length=1)


class ChannelLimit(_Section):
    per_subscriber: int = Field(ge=0)  # offers through the channel per subscriber per month


class DiscountAudit(_Section):
    max_return_rate: float = Field(le=1)          # "low return": return rate below this
    stickiness_tiers: tuple[Literal["high", "mid", "low"], ...] = ("high",)  # "high stickiness"


class Marketing(_Section):
    matrix: tuple[MatrixRule, ...] = Field(min_length=1)
    exclusions: tuple[Exclusion, ...] = ()
    strategy_weights: dict[str, dict[str, float]]
    offers_per_slot: int = Field(2, ge=1)
    channel_limits: dict[Literal["outbound_call", "sms", "store", "app"], ChannelLimit]
    offers: tuple[Offer, ...] = Field(min_length=1)
    discount_audit: DiscountAudit

    @model_validator(mode="after")
    def _catalog(self) -> Marketing:
        codes = [o.code for o in self.offers]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise ValueError(f"offer code(s) used twice: {', '.join(twice)}")
        excl = [e.code for e in self.exclusions]
        if len(set(excl)) != len(excl):
            raise ValueError("exclusion codes must be unique")
        for strategy in STRATEGIES:
            weights = self.strategy_weights.get(strategy)
            if weights is None or set(weights) != set(OFFER_SLOTS):
                raise ValueError(f"strategy_weights.{strategy} must give a weight to each of "
                                 f"{', '.join(OFFER_SLOTS)}")
        unknown = set(self.strategy_weights) - set(STRATEGIES)
        if unknown:
            raise ValueError(f"strategy_weights: unknown strategies {sorted(unknown)}")
        for offer in self.offers:
            missing = [c for c in offer.channels if c not in self.channel_limits]
            if missing:
                raise ValueError(f"offer {offer.code}: no channel_limits for {', '.join(missing)}")
        return self

    @model_validator(mode="after")
    def _covers_every_cell_once(self) -> Marketing:
        import itertools

        owners: dict[tuple, list[int]] = {}
        for i, rule in enumerate(self.matrix, start=1):
            for cell in itertools.product(*(rule.values(d) for d in MATRIX_DIMENSIONS)):
                owners.setdefault(cell, []).append(i)

        def show(cell: tuple) -> str:
            return ", ".join(f"{d}={str(v).lower()}" for d, v in zip(MATRIX_DIMENSIONS, cell, strict=True))

        missing = [c for c in itertools.product(*MATRIX_DIMENSIONS.values()) if c not in owners]
        if missing:
            raise ValueError(f"matrix leaves {len(missing)} combination(s) without a strategy, e.g. "
                             + "; ".join(show(c) for c in missing[:3]))
        overlaps = [(c, rules) for c, rules in owners.items() if len(rules) > 1]
        if overlaps:
            cell, rules = overlaps[0]
            raise ValueError(f"matrix rules {' and '.join(map(str, rules))} both cover {show(cell)} "
                             f"({len(overlaps)} overlapping combination(s))")
        return self


class SegmentCodeBands(_Section):
    """Upper band edges per dimension: band 1 lies below the first edge, the last above the last."""

    spend: tuple[float, ...] = Field(min_length=1, max_length=98)
    minutes: tuple[float, ...] = Field(min_length=1, max_length=98)
    data: tuple[float, ...] = Field(min_length=1, max_length=98)
    tenure: tuple[float, ...] = Field(min_length=1, max_length=98)

    @model_validator(mode="after")
    def _increasing(self) -> SegmentCodeBands:
        for name in ("spend", "minutes", "data", "tenure"):
            edges = getattr(self, name)
            if list(edges) != sorted(set(edges)):
                raise ValueError(f"bands.{name} must be strictly increasing: {list(edges)}")
        return self


class SegmentCodes(_Section):
    rising_ratio: float = Field(gt=1)     # this month / previous 3-month average above this
    declining_ratio: float = Field(gt=0, lt=1)
    warning_ratio: float = Field(gt=0, lt=1)
    bands: SegmentCodeBands

    @model_validator(mode="after")
    def _order(self) -> SegmentCodes:
        if self.warning_ratio >= self.declining_ratio:
            raise ValueError("warning_ratio must be below declining_ratio")
        return self


KEY_PERSON_VALUES = ("low", "mid", "high")


class VpnSeeds(_Section):
    segment_groups: tuple[Literal["marketing_first", "retention_first", "corporate_related",
                                  "do_not_market"], ...] = Field(min_length=1)
    seed_min_vpn_minutes: float = Field(ge=0)    # an active VPN member
    silent_max_vpn_minutes: float = Field(gt=0)  # target 1: fewer VPN minutes than this
    target2_min_calls: int = Field(ge=1)         # target 2: calls with the seed at least this


class Corporate(_Section):
    return_bands: tuple[float, float, float, float]  # lower edges, highest first: > 85%, 75-85 ...
    priority: tuple[tuple[int, int, int], ...] = Field(min_length=5, max_length=5)
    vpn_seeds: VpnSeeds

    @model_validator(mode="after")
    def _cells(self) -> Corporate:
        if list(self.return_bands) != sorted(self.return_bands, reverse=True):
            raise ValueError("return_bands must go from the highest edge down")
        cells = sorted(p for row in self.priority for p in row)
        if cells != list(range(1, 16)):
            raise ValueError(f"priority must number the 15 cells 1..15 once each, got {cells}")
        return self


class Warnings(_Section):
    new_subscriber_months: tuple[int, int]
    new_subscriber_low_balance: float
    low_usage_mou_ratio: float = Field(gt=0, le=1)
    price_sensitive_topup_max: float = Field(gt=0)
    price_sensitive_alerts_min: int = Field(ge=1)
    downgrade_revenue_ratio: float = Field(gt=0, le=1)
    downgrade_months: int = Field(ge=1, le=2)
    dual_sim_incoming_share: float = Field(gt=0, le=1)
    dual_sim_months: int = Field(ge=1, le=2)
    dual_sim_yoy_drop: float = Field(gt=0, le=1)
    churn_balance_max: float
    churn_rejoin_numbers: int = Field(ge=1)
    churn_offnet_circle_share: float = Field(gt=0, le=1)
    churn_revenue_band: tuple[float, float]
    low_balance: float
    bundle_expiry_months: int = Field(ge=0)


class Settings(_Section):
    """The validated configuration of one environment."""

    env: str
    root: str
    paths: Paths
    spark: SparkSettings
    privacy: Privacy
    serving: Serving = Field(default_factory=Serving)
    generate: Generate
    ingest: Ingest
    graph: Graph
    value: Value
    stickiness: Stickiness
    anomaly: Anomaly
    models: Models
    segments: Segments
    propensity: Propensity
    long_distance: LongDistance
    marketing: Marketing
    segment_codes: SegmentCodes
    corporate: Corporate
    warnings: Warnings

    def path(self, name: str) -> str:
        """A path of the `paths` section, resolved against the project root when local."""
        return resolve_path(getattr(self.paths, name), self.root)

    def with_overrides(self, overrides: dict[str, Any]) -> Settings:
        """A copy with nested keys replaced, validated again (used by the CLI and tests)."""
        merged = _deep_merge(self.model_dump(), overrides)
        try:
            return Settings.model_validate(merged)
        except ValidationError as exc:
            raise ConfigError(_describe(exc, {"overrides": overrides})) from None


SQLITE = "sqlite:///"


def resolve_path(value: str, root: str) -> str:
    """Resolve `~` and relative local paths, the file of a `sqlite:///` URI included; other URIs
    (scheme://) are returned unchanged."""
    if value.startswith(SQLITE) and not value[len(SQLITE):].startswith("/"):
        return SQLITE + resolve_path(value[len(SQLITE):], root)
    if "://" in value or value.startswith("sqlite:"):
        return value
    path = Path(os.path.expanduser(value))
    return str(path if path.is_absolute() else Path(root) / path)


def default_conf_dir() -> Path:
    """`$SPARKVALUE_CONF_DIR`, else the `conf/` folder of the source checkout."""
    env_dir = os.environ.get("SPARKVALUE_CONF_DIR")
    if env_dir:
        return Path(env_dir)
    return Path(__file__).resolve().parents[2] / "conf"


def load_config(env: str = "local", conf_dir: str | Path | None = None) -> Settings:
    """Read base.yaml plus <env>.yaml from `conf_dir` and validate the merge."""
    conf_path = Path(conf_dir) if conf_dir else default_conf_dir()
    files = [conf_path / "base.yaml", conf_path / f"{env}.yaml"]
    raw: dict[str, dict[str, Any]] = {}
    for file in files:
        if not file.is_file():
            raise ConfigError(f"{file}: configuration file not found (environment '{env}')")
        try:
            content = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file}: not valid YAML: {exc}") from None
        if not isinstance(content, dict):
            raise ConfigError(f"{file}: the top level must be a mapping of sections")
        raw[str(file)] = content
    merged: dict[str, Any] = {}
    for content in raw.values():
        merged = _deep_merge(merged, content)
    merged["env"] = env
    merged["root"] = str(conf_path.resolve().parent)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, raw)) from None


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "conf":
            out[key] = _deep_merge(out[key], value)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _has_key(content: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    node: Any = content
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _describe(exc: ValidationError, raw: dict[str, dict[str, Any]]) -> str:
    lines = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        key = ".".join(str(p) for p in loc)
        setting = [name for name, content in raw.items() if _has_key(content, loc)]
        if error["type"] == "missing":
            where, what = " + ".join(raw), "required key is missing"
        elif error["type"] == "extra_forbidden":
            where, what = " + ".join(setting) or " + ".join(raw), "unknown key"
        else:
            where = setting[-1] if setting else " + ".join(raw)
            what = f"{error['msg']} (got {error.get('input')!r})"
        lines.append(f"{where}: {key}: {what}")
    return "invalid configuration:\n  " + "\n  ".join(lines)
