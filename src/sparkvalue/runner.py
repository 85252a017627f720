"""Run stages end to end for the CLI and the spark-submit jobs: session, stage, report."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from sparkvalue import pipeline
from sparkvalue.config import Settings
from sparkvalue.models import tracking
from sparkvalue.session import build_session

log = logging.getLogger(__name__)


def run_generate(settings: Settings) -> pipeline.GenerateSummary:
    spark = build_session(settings, app_name="sparkvalue-generate")
    summary = pipeline.generate(spark, settings)
    print(f"generated {summary.subscribers:,} subscribers x {len(summary.months)} months "
          f"({summary.months[0]} .. {summary.months[-1]})")
    print(f"  landing: {summary.landing}")
    print(f"  truth:   {summary.truth}  (for tests and benchmarks only)")
    return summary


def run_ingest(settings: Settings, months: list[str] | None) -> list[pipeline.TableResult]:
    spark = build_session(settings, app_name="sparkvalue-ingest")
    results = pipeline.ingest(spark, settings, months or pipeline.landing_months(spark, settings))
    _print_ingest(settings, results)
    return results


def _print_ingest(settings: Settings, results: list[pipeline.TableResult]) -> None:
    totals: dict[str, list[int]] = {}
    for r in results:
        loaded, bad = totals.setdefault(r.table, [0, 0])
        totals[r.table] = [loaded + r.loaded, bad + r.quarantined]
    months = sorted({r.month for r in results})
    print(f"ingested {len(months)} month(s) {months[0]} .. {months[-1]} into "
          f"{settings.path('lakehouse')}/bronze")
    print(f"  {'table':<18}{'loaded':>14}{'quarantined':>14}")
    for table, (loaded, bad) in totals.items():
        print(f"  {table:<18}{loaded:>14,}{bad:>14,}")
    print(f"  quarantine: {settings.path('lakehouse')}/bronze/quarantine")
    print(f"  run log:    {settings.path('lakehouse')}/ops/ingest_runs")


def run_features(settings: Settings, months: list[str] | None) -> pipeline.FeaturesSummary:
    spark = build_session(settings, app_name="sparkvalue-features")
    summary = pipeline.features(spark, settings, months or pipeline.bronze_months(spark, settings))
    print(f"features of {len(summary.months)} month(s) {summary.months[0]} .. {summary.months[-1]}:")
    for table, path in summary.tables.items():
        print(f"  {table:<22}{path}  ({summary.seconds[table]:.0f}s)")
    return summary


def run_train(settings: Settings, kinds: tuple[str, ...] | None = None) -> pipeline.TrainSummary:
    spark = build_session(settings, app_name="sparkvalue-train")
    summary = pipeline.train(spark, settings, kinds=kinds)
    cr = ", ".join(f"{k} {v:.3f}" for k, v in summary.consistency.items())
    print(f"value AHP: consistency ratios {cr}")
    print("  weights: " + ", ".join(f"{k} {v:.3f}" for k, v in summary.ahp.items()))
    if "frame" in summary.seconds:
        print(f"the trees' model frame ({summary.seconds['frame']:.0f}s)")
    for r in summary.results:
        gate = "promoted to @champion" if r.promoted else "not promoted"
        if r.kind == "segments":
            best = "none" if r.champion_silhouette is None else f"{r.champion_silhouette:.3f}"
            print(f"{r.name} v{r.version}: k={r.k} on {r.month}, silhouette {r.silhouette:.3f} "
                  f"(champion {best}) -> {gate} ({summary.seconds[r.kind]:.0f}s)")
            for s in r.segments:
                words = "; ".join(s["distinguishing"])
                print(f"    {s['segment']:>2} {s['name']:<40} {s['share']:6.1%}  {words}")
            continue
        champion = "none" if r.champion_auc is None else f"{r.champion_auc:.3f}"
        print(f"{r.name} v{r.version}: held-out {','.join(r.split.holdout)} AUC {r.metrics.auc:.3f}, "
              f"top-decile lift {r.metrics.top_decile_lift:.2f} (base rate {r.metrics.base_rate:.1%}), "
              f"{len(r.leaves)} rules; champion AUC {champion} -> {gate} ({summary.seconds[r.kind]:.0f}s)")
    uri = tracking.tracking_uri(settings)
    print(f"  MLflow runs: {uri}  (open with: mlflow ui --backend-store-uri {uri})")
    return summary


def run_score(settings: Settings, months: list[str] | None) -> pipeline.ScoreSummary:
    spark = build_session(settings, app_name="sparkvalue-score")
    summary = pipeline.score(spark, settings, months or pipeline.silver_months(spark, settings))
    print(f"scored {len(summary.months)} month(s) {summary.months[0]} .. {summary.months[-1]} with "
          + ", ".join(f"{k} v{v}" for k, v in summary.versions.items()))
    for table, path in summary.tables.items():
        print(f"  {table:<18}{path}  ({summary.seconds[table]:.0f}s)")
    return summary


def run_recommend(settings: Settings, months: list[str] | None) -> pipeline.RecommendSummary:
    spark = build_session(settings, app_name="sparkvalue-recommend")
    summary = pipeline.recommend(spark, settings, months or pipeline.silver_months(spark, settings))
    total = sum(summary.strategies.values())
    print(f"marketing matrix of {len(summary.months)} month(s) {summary.months[0]} .. {summary.months[-1]}: "
          + ", ".join(f"{k} {v / total:.1%}" for k, v in sorted(summary.strategies.items())))
    print("  offers recommended: " + ", ".join(f"{k} {v:,}" for k, v in sorted(summary.offers.items()))
          + f"; subscriber-months excluded from every offer: {summary.excluded:,}")
    for table, path in summary.tables.items():
        print(f"  {table:<24}{path}  ({summary.seconds[table]:.0f}s)")
    return summary


def run_card(settings: Settings, subscriber: str, month: str | None) -> None:
    from sparkvalue.marketing.card import subscriber_card

    spark = build_session(settings, app_name="sparkvalue-card")
    print(subscriber_card(spark, settings, subscriber, month).render())


def run_demo(settings: Settings) -> None:
    """The main job on embedded defaults: generate the demo data, then every stage."""
    run_generate(settings)
    run_ingest(settings, None)
    run_features(settings, None)
    run_train(settings)
    run_score(settings, None)
    run_recommend(settings, None)
    run_evaluate(settings, None)
    run_quality(settings)
    run_report(settings, None)


def run_monthly(settings: Settings, months: list[str] | None, *, train: bool = False) -> None:
    """The monthly job: ingest, features (with the call-circle graph), score, marketing and the
    closed loop for `months` (None: every month there is); `train` retrains the models first.
    Each stage logs `monthly stage <name> started` and `... finished in <s>s` (the benchmark
    harness splits one run into its stages by these lines)."""
    stages: list[tuple[str, Callable[[], object]]] = [
        ("ingest", lambda: run_ingest(settings, months)),
        ("features", lambda: run_features(settings, months)),
        *([("train", lambda: run_train(settings))] if train else []),
        ("score", lambda: run_score(settings, months)),
        ("recommend", lambda: run_recommend(settings, months)),
        ("evaluate", lambda: run_evaluate(settings, months)),
    ]
    for name, stage in stages:
        log.info("monthly stage %s started", name)
        started = time.perf_counter()
        stage()
        log.info("monthly stage %s finished in %.1fs", name, time.perf_counter() - started)


def run_serve_sql(settings: Settings) -> None:
    from sparkvalue.serving import serve_sql

    serve_sql(settings)


def run_serve_mlflow(settings: Settings) -> int:
    """`mlflow server` on `serving.mlflow_backend_store`, artifacts in `paths.mlflow_artifacts`."""
    import subprocess
    import sys
    from pathlib import Path

    serving = settings.serving
    store = tracking.store_uri(serving.mlflow_backend_store, settings.root)
    artifacts = Path(settings.path("mlflow_artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    print(f"MLflow tracking server on http://{serving.mlflow_host}:{serving.mlflow_port}  "
          f"(store {store}, artifacts {artifacts}); jobs log to it with "
          f"paths.mlflow_tracking_uri: http://{serving.mlflow_host}:{serving.mlflow_port}", flush=True)
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store,
               "--artifacts-destination", str(artifacts), "--host", serving.mlflow_host,
               "--port", str(serving.mlflow_port), "--workers", "1"]
    try:
        return subprocess.run(command).returncode
    except KeyboardInterrupt:
        return 0


def run_report(settings: Settings, month: str | None) -> str:
    from sparkvalue.closedloop.report import write_report
    from sparkvalue.marketing.card import latest_month

    spark = build_session(settings, app_name="sparkvalue-report")
    path = write_report(spark, settings, month or latest_month(spark, settings))
    print(f"report: {path}")
    return str(path)


def run_evaluate(settings: Settings, months: list[str] | None) -> pipeline.EvaluateSummary:
    spark = build_session(settings, app_name="sparkvalue-evaluate")
    summary = pipeline.evaluate(spark, settings, months or pipeline.contact_months(spark, settings))
    print(f"campaign results of {len(summary.months)} contact month(s) {summary.months[0]} .. "
          f"{summary.months[-1]}")
    for table, path in summary.tables.items():
        print(f"  {table:<24}{path}  ({summary.seconds[table]:.0f}s)")
    return summary


def run_quality(settings: Settings) -> None:
    from sparkvalue.models import quality

    spark = build_session(settings, app_name="sparkvalue-quality")
    st = quality.stickiness_quality(spark, settings)
    print(f"stickiness v{st.model_version} on held-out {', '.join(st.holdout)} "
          f"({st.model.rows:,} subscriber-months, {st.model.positives:,} left):")
    print(f"  AUC {st.model.auc:.3f} (best possible, from the generator's truth: {st.oracle.auc:.3f}; "
          f"gap {st.gap:.3f}), top-decile lift {st.model.top_decile_lift:.2f}, "
          f"average precision {st.model.average_precision:.3f}")
    an = quality.anomaly_quality(spark, settings)
    leads = ", ".join(f"{k} month(s) before {f / max(n, 1):.0%}" for k, (f, n) in sorted(an.by_lead.items()))
    print(f"anomaly v{an.model_version}: flag up in the 3 months before leaving for {an.caught:,} of "
          f"{an.churners:,} leavers ({an.catch_rate:.0%}; left in {', '.join(an.churn_months)}); "
          f"{leads}; flagged among those who stayed: {an.false_alarm_rate:.0%}")
    sq = quality.segment_quality(spark, settings)
    print(f"segments v{sq.model_version} on {sq.month}: adjusted Rand index vs the planted archetypes "
          f"{sq.ari:.3f}")
    for seg_id, name, size, archetype, share in sq.segments:
        print(f"    {seg_id:>2} {name:<40} {size:>7,}  mostly {archetype} ({share:.0%})")
    print("propensity (held-out; model vs the generator's own propensities on the same rows):")
    for q in quality.propensity_quality(spark, settings):
        m, t = q.model_metrics, q.truth
        print(f"  {q.model:<28} v{q.model_version} {m.rows:>6,} rows, base {m.base_rate:5.1%}: "
              f"lift {m.top_decile_lift:.2f} vs {t.top_decile_lift:.2f} ({q.lift_ratio:.0%}), "
              f"AUC {m.auc:.3f} vs {t.auc:.3f}")
    print("campaigns (lift of treatment over control, all contact months, 95 % interval, vs the planted "
          "effect):")
    for c in quality.campaign_quality(spark, settings):
        print(f"  {c.offer_code:<26} {c.contacts_treatment:>7,} treated / {c.contacts_control:>6,} control: "
              f"lift {c.lift:+.3f} [{c.lift_low:+.3f}, {c.lift_high:+.3f}] vs planted {c.planted:+.3f} "
              f"({'inside' if c.recovered else 'OUTSIDE'})")
