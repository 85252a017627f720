"""`sparkvalue report --month M`: one self-contained HTML page for people.

Every chart is an inline SVG drawn by matplotlib from small aggregate gold tables (tiers,
matrix cells, lift tables, segment profiles, campaign results, KPIs, discount audit), so
the page opens offline and nothing subscriber-level reaches the driver. A few lines of
inline script build the table of contents; no script is fetched from anywhere.
"""

from __future__ import annotations

import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: render to SVG only
import matplotlib.pyplot as plt  # noqa: E402
from pyspark.sql import DataFrame, SparkSession  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from sparkvalue.closedloop.campaigns import pooled_by_offer  # noqa: E402
from sparkvalue.config import STICKINESS_TIERS, STRATEGIES, VALUE_TIERS, Settings  # noqa: E402
from sparkvalue.lakehouse import tables as lh  # noqa: E402

STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-top: 1em; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { border: 1px solid #ddd; padding: 3px 8px; }
th { background: #f3f3f3; } td.n { text-align: right; } nav li { display: inline; margin-right: 1em; }
.note { color: #666; font-size: 0.9em; }
"""
TOC_SCRIPT = """
document.addEventListener('DOMContentLoaded', function () {
  var list = document.getElementById('toc');
  document.querySelectorAll('h2[id]').forEach(function (h) {
    var li = document.createElement('li'), a = document.createElement('a');
    a.href = '#' + h.id; a.textContent = h.textContent; li.appendChild(a); list.appendChild(li);
  });
  document.body.setAttribute('data-toc', String(list.children.length));
});
"""


def _svg(fig) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prologue: the SVG is inline


def _figure(fig, caption: str) -> str:
    return f'<figure class="chart">{_svg(fig)}<figcaption>{html.escape(caption)}</figcaption></figure>'


def _table(rows: list[dict], columns: list[str]) -> str:
    def cell(v):
        if isinstance(v, float):
            return f'<td class="n">{v:,.3f}</td>'
        if isinstance(v, int):
            return f'<td class="n">{v:,}</td>'
        return f"<td>{html.escape('' if v is None else str(v))}</td>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(r.get(c)) for c in columns) + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _small_multiples(n: int, height: float):
    """A figure with `n` panels, three to a row; the unused ones are hidden."""
    rows = (n + 2) // 3
    fig, axes = plt.subplots(rows, 3, figsize=(11, height * rows), squeeze=False)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    return fig, list(axes.flat)[:n]


def _rows(df: DataFrame) -> list[dict]:
    return [r.asDict() for r in df.collect()]  # aggregates only: a few hundred rows at most


def _tiers(spark: SparkSession, lakehouse: str, month: str) -> str:
    rows = {r["value_tier"]: r for r in _rows(lh.read_table(spark, lakehouse, "gold.value_tiers")
                                              .where(F.col("month") == month))}
    fig, ax = plt.subplots(figsize=(6, 3))
    tiers = [t for t in VALUE_TIERS if t in rows]
    ax.bar(tiers, [rows[t]["subscribers"] for t in tiers], color="#4c72b0")
    ax.set_ylabel("subscribers")
    ax.set_title(f"value tiers {month}")
    table = _table([rows[t] for t in tiers], ["value_tier", "subscribers", "share", "avg_revenue_3m",
                                               "snapshot_share", "key_person_share"])
    return _figure(fig, "Subscribers per value tier (exact rank: 10 / 20 / 60 / 10 %)") + table


def _matrix(spark: SparkSession, lakehouse: str, month: str) -> str:
    cells = lh.read_table(spark, lakehouse, "gold.matrix_summary").where(F.col("month") == month)
    strategies = {r["strategy"]: r["n"] for r in _rows(cells.groupBy("strategy")
                                                          .agg(F.sum("subscribers").alias("n")))}
    grid = {(r["value_tier"], r["stickiness_tier"]): r["n"] for r in _rows(
        cells.groupBy("value_tier", "stickiness_tier").agg(F.sum("subscribers").alias("n")))}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    names = [s for s in STRATEGIES if s in strategies]
    left.barh(names, [strategies[s] for s in names], color="#55a868")
    left.set_xlabel("subscribers")
    left.set_title("strategies")
    values = [[grid.get((v, s), 0) for s in STICKINESS_TIERS] for v in VALUE_TIERS]
    image = right.imshow(values, cmap="YlOrRd")
    right.set_xticks(range(len(STICKINESS_TIERS)), STICKINESS_TIERS)
    right.set_yticks(range(len(VALUE_TIERS)), VALUE_TIERS)
    right.set_xlabel("stickiness tier")
    right.set_ylabel("value tier")
    for i, row in enumerate(values):
        for j, n in enumerate(row):
            right.text(j, i, f"{n:,}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=right, shrink=0.8)
    right.set_title("marketing matrix: subscribers per cell")
    return _figure(fig, "Strategy per subscriber and the value x stickiness heatmap of the marketing matrix")


def _lift(spark: SparkSession, lakehouse: str) -> str:
    lift = lh.read_table(spark, lakehouse, "gold.model_lift")
    latest = lift.groupBy("model_name").agg(F.max("model_version").alias("model_version"))
    rows = _rows(lift.join(latest, ["model_name", "model_version"]).orderBy("model_name", "decile"))
    models = sorted({r["model_name"] for r in rows})
    if not models:
        return '<p class="note">no model lift tables yet: run `sparkvalue train`</p>'
    fig, axes = _small_multiples(len(models), 2.6)
    for ax, model in zip(axes, models, strict=True):
        mine = [r for r in rows if r["model_name"] == model]
        ax.bar([r["decile"] for r in mine], [r["lift"] for r in mine], color="#8172b2")
        ax.axhline(1.0, color="#999", linewidth=0.8)
        ax.set_title(model.replace("sparkvalue-", ""), fontsize=9)
        ax.set_xticks(range(1, 11))
    fig.tight_layout()
    return _figure(fig, "Held-out lift by decile of every champion tree (1 = highest score; 1.0 = random)")


def _segments(spark: SparkSession, lakehouse: str, month: str) -> str:
    rows = _rows(lh.read_table(spark, lakehouse, "gold.segment_profiles").where(F.col("month") == month)
                 .orderBy(F.desc("share")))
    if not rows:
        return '<p class="note">no segment profiles for this month</p>'
    fig, ax = plt.subplots(figsize=(8, 0.5 + 0.45 * len(rows)))
    ax.barh([r["segment_name"] for r in rows][::-1], [r["share"] for r in rows][::-1], color="#c44e52")
    ax.set_xlabel("share of subscribers")
    for r in rows:
        r["distinguishing"] = "; ".join(r["distinguishing"] or [])
    table = _table(rows, ["segment", "segment_name", "segment_group", "subscribers", "share",
                          "avg_value_score", "avg_stickiness", "distinguishing"])
    return _figure(fig, "Usage segments (k-means) by share") + table


def _campaigns(spark: SparkSession, lakehouse: str) -> str:
    rows = [r for r in _rows(pooled_by_offer(lh.read_table(spark, lakehouse, "gold.campaign_results")))
            if r["lift"] is not None]  # an offer without a control arm has no lift
    if not rows:
        return '<p class="note">no campaign results yet: run `sparkvalue evaluate`</p>'
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.errorbar([r["lift"] for r in rows], range(len(rows)), xerr=[r["lift_high"] - r["lift"] for r in rows],
                fmt="o", color="#dd8452", capsize=4)
    ax.axvline(0.0, color="#999", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [r["offer_code"] for r in rows])
    ax.set_xlabel("response lift, treatment - control (95 % interval)")
    table = _table(rows, ["offer_code", "contacts_treatment", "contacts_control", "response_rate_treatment",
                          "response_rate_control", "lift", "lift_low", "lift_high", "p_value",
                          "incremental_revenue", "cost"])
    return _figure(fig, "Campaign lift over the control group, all contact months") + table


def _kpis(spark: SparkSession, lakehouse: str) -> str:
    rows = _rows(lh.read_table(spark, lakehouse, "gold.kpis").orderBy("kpi", "month"))
    kpis = sorted({r["kpi"] for r in rows})
    if not kpis:
        return '<p class="note">no KPIs yet: run `sparkvalue evaluate`</p>'
    fig, axes = _small_multiples(len(kpis), 2.4)
    for ax, kpi in zip(axes, kpis, strict=True):
        mine = [r for r in rows if r["kpi"] == kpi and r["value"] is not None]
        ax.plot([r["month"] for r in mine], [r["value"] for r in mine], marker="o", color="#4c72b0")
        ax.set_title(kpi, fontsize=9)
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    fig.tight_layout()
    return _figure(fig, "KPI trends (gold.kpis)")


def _audit(spark: SparkSession, lakehouse: str, month: str) -> str:
    rows = _rows(lh.read_table(spark, lakehouse, "gold.discount_audit").where(F.col("month") == month)
                 .orderBy(F.desc("saving_if_cleaned")))
    if not rows:
        return '<p class="note">no discount audit for this month</p>'
    fig, ax = plt.subplots(figsize=(8, 3))
    names = [r["discount"] for r in rows]
    x = range(len(rows))
    for shift, column, color in ((-0.2, "yearly_cost", "#937860"), (0.2, "saving_if_cleaned", "#55a868")):
        ax.bar([i + shift for i in x], [r[column] for r in rows], width=0.4, label=column.replace("_", " "),
               color=color)
    ax.set_xticks(list(x), names)
    ax.set_ylabel("yuan per year")
    ax.legend()
    table = _table(rows, ["discount", "receivers", "low_return_high_stickiness", "overlap_rate",
                          "yearly_cost", "revenue_at_risk", "saving_if_cleaned"])
    return _figure(fig, "Discounts given to low-return, high-stickiness subscribers") + table


def render(spark: SparkSession, settings: Settings, month: str) -> str:
    lakehouse = settings.path("lakehouse")
    sections = [
        ("tiers", "Value tiers", _tiers(spark, lakehouse, month)),
        ("matrix", "Strategies and the marketing matrix", _matrix(spark, lakehouse, month)),
        ("lift", "Model lift", _lift(spark, lakehouse)),
        ("segments", "Usage segments", _segments(spark, lakehouse, month)),
        ("campaigns", "Campaign results", _campaigns(spark, lakehouse)),
        ("kpis", "KPI trends", _kpis(spark, lakehouse)),
        ("audit", "Discount audit", _audit(spark, lakehouse, month)),
    ]
    body = "".join(f'<h2 id="{key}">{html.escape(title)}</h2>{content}' for key, title, content in sections)
    return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>sparkvalue {month}</title>"
            f"<style>{STYLE}</style><script>{TOC_SCRIPT}</script></head><body>"
            f"<h1>sparkvalue report {month}</h1><p class=\"note\">lakehouse {html.escape(lakehouse)}; "
            f"subscriber ids are pseudonyms and none appears here.</p><nav><ul id=\"toc\"></ul></nav>"
            f"{body}</body></html>")


def write_report(spark: SparkSession, settings: Settings, month: str) -> Path:
    """Render the report of `month` to `reports/report-<month>.html` beside the lakehouse folder."""
    folder = Path(settings.path("lakehouse")).parent / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"report-{month}.html"
    path.write_text(render(spark, settings, month), encoding="utf-8")
    return path
