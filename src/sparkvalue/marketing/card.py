"""The subscriber card: the front-line view of one subscriber, from the gold tables.

Laid out like the seed's five areas (客户推荐优先级排序区 ...): header flags, then the ranked
offers, eligible prepay offers, usage offers, services and trials. The number typed by the
user is pseudonymised before the lookup and never printed; only one subscriber's rows are
read back to the driver.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from sparkvalue.config import Settings
from sparkvalue.lakehouse import tables as lh
from sparkvalue.privacy import load_key, pseudonymise_value


class UnknownSubscriberError(LookupError):
    """The number is not a subscriber of the month in the gold tables."""


@dataclass(frozen=True)
class Card:
    pseudonym: str
    month: str
    header: dict[str, str]
    ranked: list[Row]
    prepay: list[Row]
    usage: list[Row]
    services: list[Row]
    trials: list[Row]
    exclusions: list[str]

    def render(self) -> str:
        lines = [f"subscriber {self.pseudonym} (pseudonym) · {self.month}"]
        lines += [f"  {name:<22}{value}" for name, value in self.header.items()]
        if self.exclusions:
            lines.append("  no offers this month: " + "; ".join(self.exclusions))

        def offers(title: str, rows: list[Row], show_rank: bool = False) -> None:
            lines.append(f"{title}:")
            if not rows:
                lines.append("  (none)")
            for r in rows:
                mark = f"{r['rank']}." if show_rank else ("*" if r["recommended"] else "-")
                lines.append(f"  {mark} {r['offer_code']}  {r['offer_name']}  [{r['slot']}, {r['channel']}, "
                             f"{r['cadence']}]  score {r['score']:.1f}")
                if show_rank:
                    lines.append(f"       {r['reason']}")

        offers("1. ranked offers", self.ranked, show_rank=True)
        offers("2. eligible prepay offers (* = recommended)", self.prepay)
        offers("3. usage offers (* = recommended)", self.usage)
        lines.append("4. services (propensity models):")
        lines += [f"  {r['model']:<30}{r['service']:<11}p={r['probability']:.3f}  decile {r['decile']}"
                  for r in self.services] or ["  (none)"]
        offers("5. trials (* = recommended)", self.trials)
        return "\n".join(lines)


def latest_month(spark: SparkSession, settings: Settings) -> str:
    months = lh.read_table(spark, settings.path("lakehouse"), "gold.marketing_matrix") \
        .agg(F.max("month")).collect()[0][0]
    if months is None:
        raise UnknownSubscriberError("gold.marketing_matrix is empty: run `sparkvalue recommend` first")
    return months


def subscriber_card(spark: SparkSession, settings: Settings, number: str, month: str | None = None) -> Card:
    """The card of the subscriber with phone number `number` in `month` (default: the latest)."""
    month = month or latest_month(spark, settings)
    pseudonym = pseudonymise_value(number.strip(), key=load_key(settings))
    lakehouse = settings.path("lakehouse")

    def rows(table: str) -> DataFrame:
        return lh.read_table(spark, lakehouse, table).where(
            (F.col("month") == month) & (F.col("subscriber_id") == pseudonym))

    matrix = rows("gold.marketing_matrix").collect()
    if not matrix:
        raise UnknownSubscriberError(
            f"no subscriber with that number in gold.marketing_matrix for {month} (numbers are looked "
            "up by their pseudonym; check the number and the month)")
    m = matrix[0]
    features = rows("silver.subscriber_features").select(
        "in_family", "is_family_head", "in_vpn", "tenure_months", "revenue").collect()[0]
    value = rows("gold.value").select("in_snapshot", "clv").collect()
    services = rows("gold.propensity").orderBy(F.desc("probability")).select(
        "model", "service", "probability", "decile").collect()
    best_decile = min((r["decile"] for r in services), default=None)
    recs = rows("gold.recommendations").orderBy(F.col("rank").asc_nulls_last(), F.desc("score")).collect()
    excluded = rows("gold.marketing_exclusions").collect()
    header = {
        "snapshot cohort": _yes(value[0]["in_snapshot"]) if value else "?",
        "family": _yes(features["in_family"]),
        "family head": _yes(features["is_family_head"]),
        "VPN": _yes(features["in_vpn"]),
        "value tier": f"{m['value_tier']} (index {m['value_score']:.1f})",
        "stickiness tier": f"{m['stickiness_tier']} (score {m['stickiness_score']:.1f})",
        "anomaly": f"{'yes' if m['is_anomalous'] else 'no'} (score {m['anomaly_score']:.1f})",
        "new-service potential": "-" if best_decile is None else f"{10 * (11 - best_decile)} / 100",
        "usage segment": f"{m['segment_name']} ({m['segment_group']})",
        "strategy": f"{m['strategy']} (matrix rule {m['matrix_rule']})",
        "tenure": f"{features['tenure_months']} months",
    }
    return Card(
        pseudonym=pseudonym, month=month, header=header,
        ranked=[r for r in recs if r["recommended"]],
        prepay=[r for r in recs if r["requirement"] == "prepay"],
        usage=[r for r in recs if r["slot"] == "usage"],
        services=services,
        trials=[r for r in recs if r["method"] == "trial"],
        exclusions=list(excluded[0]["exclusion_reasons"]) if excluded else [],
    )


def _yes(flag: bool | None) -> str:
    return "?" if flag is None else ("yes" if flag else "no")
