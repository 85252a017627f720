"""Held-out metrics of a risk score, computed from a small per-score aggregate.

A tree gives one score per leaf, so the held-out rows collapse into a few dozen
(score, rows, positives) levels in Spark; AUC, average precision, decile lift and
the confusion at a threshold are exact functions of those levels, computed on the
driver without collecting any subscriber. Ties are handled the way scikit-learn
does: tied scores count half in the AUC and as one step in the precision curve;
a decile boundary that cuts through a tie takes a proportional share of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

Level = tuple[float, int, int]  # (score, rows, positives), highest score first


def score_levels(df: DataFrame, *, score: str, label: str, decimals: int = 6) -> list[Level]:
    """(score, rows, positives) per distinct score, highest first; label is 1 for a positive."""
    rows = (df.groupBy(F.round(F.col(score).cast("double"), decimals).alias("s"))
            .agg(F.count(F.lit(1)).alias("n"), F.sum(F.col(label).cast("long")).alias("p"))
            .orderBy(F.col("s").desc()).collect())
    return [(float(r["s"]), int(r["n"]), int(r["p"] or 0)) for r in rows]


@dataclass(frozen=True)
class BinaryMetrics:
    rows: int
    positives: int
    base_rate: float
    auc: float
    average_precision: float
    top_decile_lift: float
    deciles: list[dict] = field(default_factory=list)  # decile, rows, positives, rate, lift

    def as_mlflow_metrics(self, prefix: str = "") -> dict[str, float]:
        out = {f"{prefix}auc": self.auc, f"{prefix}average_precision": self.average_precision,
               f"{prefix}top_decile_lift": self.top_decile_lift, f"{prefix}base_rate": self.base_rate,
               f"{prefix}rows": float(self.rows), f"{prefix}positives": float(self.positives)}
        out.update({f"{prefix}lift_decile_{d['decile']:02d}": d["lift"] for d in self.deciles})
        return out


def binary_metrics_from_levels(levels: list[Level]) -> BinaryMetrics:
    levels = sorted(levels, key=lambda lv: -lv[0])
    rows = sum(n for _, n, _ in levels)
    positives = sum(p for _, _, p in levels)
    negatives = rows - positives
    if rows == 0 or positives == 0 or negatives == 0:
        raise ValueError(f"held-out rows need both classes: {rows} rows, {positives} positives")
    base = positives / rows

    # AUC: P(score of a random positive > a random negative) + 1/2 P(tie)
    auc_sum, negatives_below = 0.0, negatives
    ap, tp_seen, seen = 0.0, 0, 0
    for _, n, p in levels:
        neg = n - p
        negatives_below -= neg
        auc_sum += p * (negatives_below + 0.5 * neg)
        tp_seen += p
        seen += n
        ap += (p / positives) * (tp_seen / seen)  # recall step x precision at this threshold
    auc = auc_sum / (positives * negatives)
    deciles = _deciles(levels, rows, base)
    return BinaryMetrics(rows, positives, base, auc, ap, deciles[0]["lift"], deciles)


def _deciles(levels: list[Level], rows: int, base: float) -> list[dict]:
    """Ten equal slices by descending score; a tie split across a boundary is shared pro rata."""
    out, queue = [], [(float(n), float(p)) for _, n, p in levels]
    for d in range(10):
        want = rows * (d + 1) / 10 - rows * d / 10
        got_n = got_p = 0.0
        while want - got_n > 1e-9 and queue:
            n, p = queue[0]
            take = min(n, want - got_n)
            share = take / n
            got_n += take
            got_p += p * share
            if take >= n - 1e-9:
                queue.pop(0)
            else:
                queue[0] = (n - take, p * (1 - share))
        rate = got_p / got_n if got_n else 0.0
        out.append({"decile": d + 1, "rows": got_n, "positives": got_p, "rate": rate,
                    "lift": rate / base if base else 0.0})
    return out


def binary_metrics(df: DataFrame, *, score: str, label: str) -> BinaryMetrics:
    return binary_metrics_from_levels(score_levels(df, score=score, label=label))


def confusion_at(levels: list[Level], threshold: float, *, positive_when: str = "above") -> dict[str, int]:
    """Counts when a row is predicted positive at score >= threshold ("above") or < threshold ("below")."""
    if positive_when not in ("above", "below"):
        raise ValueError(f"positive_when must be 'above' or 'below', not {positive_when!r}")
    cm = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for s, n, p in levels:
        predicted = s >= threshold - 1e-12 if positive_when == "above" else s < threshold - 1e-12
        if predicted:
            cm["tp"] += p
            cm["fp"] += n - p
        else:
            cm["fn"] += p
            cm["tn"] += n - p
    return cm


def lift_chart(metrics: BinaryMetrics, path: str, title: str) -> str:
    """Bar chart of the lift per decile (PNG), for the MLflow run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.bar([d["decile"] for d in metrics.deciles], [d["lift"] for d in metrics.deciles], color="#3b6ea5")
    ax.axhline(1.0, color="grey", linestyle="--", linewidth=1)
    ax.set_xticks(range(1, 11))
    ax.set_xlabel("decile of held-out subscribers by risk (1 = riskiest)")
    ax.set_ylabel("lift over base rate")
    ax.set_title(f"{title}\nAUC {metrics.auc:.3f}, top-decile lift {metrics.top_decile_lift:.2f}, "
                 f"base rate {metrics.base_rate:.2%}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
