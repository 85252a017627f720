"""Held-out metrics from (score, rows, positives) levels agree with scikit-learn."""

import random

import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from sparkvalue.models.metrics import (
    binary_metrics,
    binary_metrics_from_levels,
    confusion_at,
    lift_chart,
    score_levels,
)


def _levels(scores, labels):
    by = {}
    for s, y in zip(scores, labels, strict=True):
        n, p = by.get(s, (0, 0))
        by[s] = (n + 1, p + y)
    return sorted(((s, n, p) for s, (n, p) in by.items()), key=lambda lv: -lv[0])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_auc_and_average_precision_match_sklearn_with_heavy_ties(seed):
    rng = random.Random(seed)
    scores = [rng.choice([0.01, 0.05, 0.1, 0.3, 0.3, 0.7]) for _ in range(3000)]
    labels = [int(rng.random() < s) for s in scores]
    m = binary_metrics_from_levels(_levels(scores, labels))
    assert m.auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    assert m.average_precision == pytest.approx(average_precision_score(labels, scores), abs=1e-12)
    assert m.rows == 3000 and m.positives == sum(labels)


def test_deciles_split_ties_pro_rata_and_lift_is_rate_over_base():
    # 100 rows: 20 at 0.9 (10 positive), 80 at 0.1 (4 positive); base rate 0.14
    m = binary_metrics_from_levels([(0.9, 20, 10), (0.1, 80, 4)])
    assert [d["rows"] for d in m.deciles] == pytest.approx([10.0] * 10)
    assert m.deciles[0]["positives"] == pytest.approx(5.0)
    assert m.deciles[2]["positives"] == pytest.approx(0.5)
    assert m.top_decile_lift == pytest.approx(0.5 / 0.14)
    assert sum(d["positives"] for d in m.deciles) == pytest.approx(14.0)


def test_confusion_at_threshold_both_directions():
    levels = [(0.9, 20, 10), (0.5, 30, 3), (0.1, 50, 1)]
    assert confusion_at(levels, 0.5) == {"tp": 13, "fp": 37, "fn": 1, "tn": 49}
    assert confusion_at(levels, 0.5, positive_when="below") == {"tp": 1, "fp": 49, "fn": 13, "tn": 37}
    with pytest.raises(ValueError, match="positive_when"):
        confusion_at(levels, 0.5, positive_when="over")


def test_one_class_holdout_is_refused():
    with pytest.raises(ValueError, match="need both classes: 10 rows, 0 positives"):
        binary_metrics_from_levels([(0.2, 10, 0)])


def test_levels_and_metrics_from_a_spark_frame(spark, tmp_path):
    rng = random.Random(5)
    rows = [(rng.choice([0.2, 0.4, 0.8]), 0) for _ in range(400)]
    rows = [(s, int(rng.random() < s)) for s, _ in rows]
    df = spark.createDataFrame(rows, "risk double, left int")
    levels = score_levels(df, score="risk", label="left")
    assert [lv[0] for lv in levels] == [0.8, 0.4, 0.2]
    assert sum(lv[1] for lv in levels) == 400
    m = binary_metrics(df, score="risk", label="left")
    assert m.auc == pytest.approx(roc_auc_score([y for _, y in rows], [s for s, _ in rows]), abs=1e-12)
    chart = lift_chart(m, str(tmp_path / "lift.png"), "test")
    assert (tmp_path / "lift.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.endswith("lift.png")
