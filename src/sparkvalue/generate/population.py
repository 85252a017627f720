"""The latent population: who every subscriber is, as pure column expressions of its index.

Every fact is a function of the subscriber index and the seed only, so the
population is the same whatever the partitioning.

Structure planted for the models to find:
- blocks of 4 indices are families, blocks of 256 corporate groups (with a VPN),
  blocks of 1024 hometown clusters (shared city, shared hometown for migrants);
- a monthly dissatisfaction *episode* starts with a hazard driven by low
  stickiness (short tenure, no bundle, no VPN/family, off-net-heavy circle);
  during its 1-3 months usage drops, competitors' customer service calls,
  calls are forwarded to a competitor, the plan is downgraded and the balance
  falls; it ends in churn with probability EPISODE_CHURN or in recovery;
- a quiet background churn, and contagion: a cluster-wide shock after which
  members with off-net-heavy circles follow within 0-2 months.
Month indices `t` run from 0 (first generated month) to months-1.
"""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from sparkvalue.contract.raw import CITIES, HANDSET_CLASSES, REGIONS
from sparkvalue.generate import profiles as prof
from sparkvalue.generate.rng import categorical, geometric, lognormal, normal, pick, uniform

FAMILY_BLOCK = 4
CORP_BLOCK = 256
CLUSTER_BLOCK = 1024
EPISODE_CHURN = 0.65
BACKGROUND_SHARE = 0.25
SHOCK_HAZARD = 0.02
HUBS = 20
CITY_WEIGHTS = (0.72, 0.08, 0.06, 0.05, 0.05, 0.04)
REMOTE_REGIONS = tuple(r for r in REGIONS if r not in CITIES)


def msisdn(idx: Column) -> Column:
    """Our subscriber's 11-digit number: a bijection of the index (idx < 10^9)."""
    body = (idx * F.lit(7919) + F.lit(123_457)) % F.lit(1_000_000_000)
    return F.concat(F.lit("13"), F.lpad(body.cast("string"), 9, "0"))


def _block(idx: Column, size: int) -> Column:
    return F.floor(idx / F.lit(size)).cast("long")


def _sigmoid(x: Column) -> Column:
    return 1.0 / (1.0 + F.exp(-x))


def _stage(df: DataFrame, columns: dict[str, Column]) -> DataFrame:
    return df.select("*", *[c.alias(k) for k, c in columns.items()])


def population(spark: SparkSession, *, n: int, months: int, seed: int, partitions: int) -> DataFrame:
    """One row per subscriber index with every latent fact (the generator's base).

    Built in stages that refer to earlier stages by column, so that no expression
    is repeated inside another (a nested expression would be re-evaluated many
    times per row).
    """
    idx = F.col("idx")

    def u(stream: str) -> Column:
        return uniform(seed, stream, idx)

    def c(name: str) -> Column:
        return F.col(name)

    df = spark.range(0, n, 1, partitions).select(F.col("id").alias("idx"))
    df = _stage(df, {
        "corp_block": _block(idx, CORP_BLOCK),
        "fam_block": _block(idx, FAMILY_BLOCK),
        "cluster": _block(idx, CLUSTER_BLOCK),
    })
    df = _stage(df, {
        "corp_member": (uniform(seed, "corp_block", c("corp_block")) < 0.22) & (u("corp_member") < 0.55),
        "fam_size": (2 + F.floor(uniform(seed, "fam_size", c("fam_block")) * 3)).cast("int"),
    })
    df = _stage(df, {
        "fam_member": (uniform(seed, "fam_block", c("fam_block")) < 0.30) & ~c("corp_member")
        & ((idx % FAMILY_BLOCK) < c("fam_size")),
    })
    free = prof.FREE_ARCHETYPE_WEIGHTS
    df = _stage(df, {
        "archetype": F.when(c("corp_member"), F.lit("corporate_vpn"))
        .when(c("fam_member"), F.lit("family_member"))
        .otherwise(categorical(u("archetype"), list(free), list(free.values()))),
    })
    archetype = c("archetype")

    def param(name: str) -> Column:
        return prof.by_archetype(archetype, prof.P[name])

    age_band = None
    for name, bands in prof.AGE_BY_ARCHETYPE.items():
        value = pick(u("age"), bands)
        age_band = (F.when(archetype == name, value) if age_band is None
                    else age_band.when(archetype == name, value))
    rejoin_rate = F.when(archetype.isin("migrant_worker", "youth_data", "new_joiner"), 0.5) \
        .otherwise(0.05)
    df = _stage(df, {
        "tenure_months": F.least(F.floor(-F.log(F.greatest(u("tenure"), F.lit(1e-12)))
                                         * param("tenure_mean")), F.lit(300)),
        "scale": lognormal(seed, "scale", idx, sigma=0.35),
        "offnet_pref": F.least(F.greatest(param("offnet_pref") + 0.08 * normal(seed, "offnet", idx),
                                          F.lit(0.02)), F.lit(0.9)),
        "has_bundle": u("bundle") < param("p_bundle"),
        "vpn_member": c("corp_member") & (u("vpn") < 0.85),
        "special": u("special") < F.when(archetype == "local_premium", 0.08).otherwise(0.02),
        "employee": u("employee") < 0.004,
        "prepaid": u("prepaid") < param("p_prepaid"),
        "broadband": u("broadband") < param("p_broadband"),
        "secondary": u("secondary") < 0.04,
        "call_forwarding": u("forwarding") < 0.03,
        "price_sensitive": u("price_sensitive") < param("p_price_sensitive"),
        "numbers_held_12m": geometric(u("rejoin"), 1.0 - rejoin_rate),
        "vip_level": F.when(archetype == "local_premium", 1 + F.floor(u("vip") * 5))
        .when((archetype == "long_distance") & (u("vip") < 0.3), 1 + F.floor(u("vip2") * 2))
        .otherwise(0).cast("int"),
        "age_band": age_band,
        "smart": u("handset") < param("p_4g5g"),
        "plan_fee": F.round(param("plan_fee") * pick(u("plan_fee"), (0.5, 1.0, 1.0, 1.5, 2.0)), 0),
        "brand": prof.by_archetype(archetype, prof.BRAND_BY_ARCHETYPE),
        "bundle_type": pick(u("bundle_type"), ("prepaid_deposit", "minimum_spend", "handset_contract")),
        "bundle_months": pick(u("bundle_months"), (12, 24)).cast("int"),
        "home_city": categorical(uniform(seed, "city", c("cluster")), CITIES, CITY_WEIGHTS),
        "hometown": categorical(uniform(seed, "hometown", c("cluster")), REMOTE_REGIONS,
                                [1.0] * len(REMOTE_REGIONS)),
        "id_local": F.when(archetype == "migrant_worker", u("id_local") < 0.1)
        .otherwise(u("id_local") < 0.95),
        "is_key_person": c("corp_member") & (u("key_person") < 0.04),
        "degree_factor": lognormal(seed, "degree", idx, sigma=0.55),
        "act_day": (1 + F.floor(u("act_day") * 28)).cast("int"),
        "shock_t": geometric(uniform(seed, "shock", c("cluster")), SHOCK_HAZARD),
        "risk": param("risk"),
    })
    df = _stage(df, {
        "act_t": F.when(archetype == "new_joiner", F.floor(u("join") * months))
        .otherwise(-(1 + c("tenure_months"))).cast("int"),
        "handset_class": F.when(c("smart"), F.when(u("handset5g") < 0.4, F.lit("5g"))
                                .otherwise(F.lit("4g")))
        .otherwise(pick(u("handset_old"), HANDSET_CLASSES[:2])),
        "plan_type": F.when(c("corp_member"), F.lit("corporate"))
        .when(c("fam_member"), F.lit("family"))
        .when((archetype == "youth_data") & (u("data_only") < 0.06), F.lit("data_only"))
        .when(u("discount_plan") < 0.15, F.lit("discount"))
        .otherwise(F.lit("standard")),
        "payment_type": F.when(c("employee"), F.lit("free"))
        .when(c("corp_member") & (u("group_paid") < 0.35), F.lit("group_paid"))
        .when(c("prepaid"), F.lit("prepaid"))
        .otherwise(F.lit("postpaid")),
        "follow_p": 0.06 + 0.3 * c("offnet_pref"),
        "episode_len": (1 + F.floor(u("episode_len") * 3)).cast("int"),
    })
    # Monthly hazard of a dissatisfaction episode: low stickiness raises it.
    tenure_years = F.greatest(-c("act_t"), F.lit(0)) / 12.0
    z = (
        -3.75
        + c("risk")
        - 0.9 * c("has_bundle").cast("double")
        - 0.8 * c("vpn_member").cast("double")
        - 0.6 * c("fam_member").cast("double")
        - 0.35 * F.log1p(tenure_years)
        + 2.5 * (c("offnet_pref") - 0.3)
        - 0.5 * c("special").cast("double")
        - 0.5 * c("broadband").cast("double")
        + 0.3 * c("prepaid").cast("double")
    )
    df = _stage(df, {
        "t0": F.greatest(c("act_t") + 1, F.lit(0)),
        "first_t": F.greatest(c("act_t"), F.lit(0)),
        "episode_hazard": _sigmoid(z),
        "bundle_start_t": F.greatest(
            c("act_t"), (-c("bundle_months") + 1
                         + F.floor(u("bundle_start") * (c("bundle_months") + months)))).cast("int"),
    })
    df = _stage(df, {
        "onset_t": c("t0") + geometric(u("onset"), c("episode_hazard")),
        "background_hazard": c("episode_hazard") * BACKGROUND_SHARE,
        "contagion_t": F.when(u("follow") < c("follow_p"),
                              F.greatest(c("shock_t") + F.floor(u("lag") * 3).cast("int"), c("t0"))),
    })
    df = _stage(df, {
        "episode_churn_t": F.when(u("episode_churn") < EPISODE_CHURN, c("onset_t") + c("episode_len")),
        "background_t": c("t0") + geometric(u("background"), c("background_hazard")),
    })
    churn_any = F.least(c("episode_churn_t"), c("background_t"), c("contagion_t"))
    df = _stage(df, {"churn_t": F.when(churn_any < months, churn_any).cast("int")})
    return df.select(
        "*",
        F.coalesce(c("churn_t"), F.lit(months - 1)).alias("last_t"),
        F.when(c("churn_t").isNull(), F.lit(None).cast("string"))
        .when(c("churn_t") == c("episode_churn_t"), F.lit("episode"))
        .when(c("churn_t") == c("contagion_t"), F.lit("contagion"))
        .otherwise(F.lit("background")).alias("churn_cause"),
    )


def churn_hazard_next(t: Column, row: dict[str, Column]) -> Column:
    """P(the subscriber is cancelled in month t+1 | latent state at t), the truth.

    The oracle knows when an episode began and whether a shock hit the cluster,
    not how long the episode lasts nor whether this subscriber follows.
    """
    nxt = t + 1
    after_start = nxt >= row["t0"]
    background = F.when(after_start, row["background_hazard"]).otherwise(0.0)
    elapsed = t - row["onset_t"]
    episode = F.when(
        (elapsed >= 0) & (elapsed < 3),
        (EPISODE_CHURN / 3.0) / (1.0 - EPISODE_CHURN * elapsed / 3.0),
    ).otherwise(0.0)
    lag = nxt - row["shock_t"]
    contagion = F.when(
        (lag >= 0) & (lag < 3) & after_start,
        (row["follow_p"] / 3.0) / (1.0 - row["follow_p"] * lag / 3.0),
    ).otherwise(0.0)
    return 1.0 - (1.0 - background) * (1.0 - episode) * (1.0 - contagion)


def service_propensity(row: dict[str, Column], service: str) -> Column:
    """Monthly probability that the subscriber takes `service` (usage-driven), the truth."""
    spec = prof.SERVICES[service]
    arch = row["archetype"]
    features = {
        "local_min": (F.log(prof.by_archetype(arch, prof.P["local_min"]) * row["scale"])
                      - math.log(300.0)) / 0.8,
        "data_mb": (F.log1p(prof.by_archetype(arch, prof.P["data_mb"]) * row["scale"])
                    - math.log(1500.0)) / 1.2,
        "incoming_min": (F.log(prof.by_archetype(arch, prof.P["local_min"])
                               * prof.by_archetype(arch, prof.P["incoming_share"]) * row["scale"])
                         - math.log(150.0)) / 0.8,
        "age_old": row["age_band"].isin("55-64", "65+").cast("double"),
        "family": row["fam_member"].cast("double"),
        "youth": (arch == "youth_data").cast("double"),
        "handset_4g5g": row["handset_class"].isin("4g", "5g").cast("double"),
    }
    z = F.lit(spec["base"])
    for name, weight in spec["drivers"].items():
        z = z + weight * features[name]
    return _sigmoid(z)
