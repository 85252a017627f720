"""Benchmark of the monthly job and the training job at given sizes (issue 9).

    .venv/bin/python benchmarks/monthly.py --subscribers 100000 1000000 3200000 6400000

For each size, in benchmarks/.work/<size>/ (ignored by git):

1. set-up (timed, reported apart): generate N subscribers x 13 months with about 20
   call-circle edges per subscriber per month (Parquet landing), ingest the 12 months
   before the latest and compute their features: the history a monthly run finds;
2. the monthly job of the latest month, one `sparkvalue` process per stage: ingest,
   features (with the call-circle graph), then the training job (`sparkvalue train`,
   all models), then score, recommend and evaluate;
3. the single-machine reference: DuckDB (2 threads, its Delta extension) computing the
   usage windows and the circle aggregation of the month from the same bronze tables.

Per stage: wall time, rows in (rows of the month in the stage's input tables) and out
(`numOutputRows` of the Delta commits the stage made), peak resident memory of the
driver JVM and of the whole process tree, and spill (memory and disk bytes spilled,
from the Spark event log). Results: benchmarks/results/<out>/results.{json,md}, with
sparkvalue's usage and circle stages as a ratio to the DuckDB reference.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import REPO, duckdb_reference, prepare_env, run_stage, write_report  # noqa: E402

# The tables each monthly stage reads (rows of the month) and writes.
INPUTS = {
    "ingest": [],
    "features": ["bronze/subscribers", "bronze/usage_monthly", "bronze/call_edges", "bronze/bundles",
                 "bronze/product_events"],
    "train": ["silver/subscriber_features", "silver/graph_features", "silver/warnings"],
    "score": ["silver/subscriber_features", "silver/graph_features", "silver/warnings"],
    "recommend": ["gold/value", "gold/stickiness", "gold/anomaly", "gold/segments", "gold/propensity"],
    "evaluate": ["bronze/contact_history", "gold/recommendations"],
}


def _lake_tables(lakehouse: Path) -> list[Path]:
    return sorted(p.parent for p in lakehouse.glob("*/*/_delta_log"))


def rows_written(lakehouse: Path, since_ms: int) -> int:
    """`numOutputRows` of every Delta commit made after `since_ms` (epoch milliseconds)."""
    from deltalake import DeltaTable

    total = 0
    for table in _lake_tables(lakehouse):
        for commit in DeltaTable(str(table)).history():
            if commit.get("timestamp", 0) >= since_ms:
                total += int((commit.get("operationMetrics") or {}).get("numOutputRows", 0) or 0)
    return total


def rows_read(con, lakehouse: Path, stage: str, month: str) -> int:
    total = 0
    for name in INPUTS[stage]:
        path = lakehouse / name
        if (path / "_delta_log").is_dir():
            total += con.execute(f"SELECT count(*) FROM delta_scan('{path}') WHERE month = ?",
                                 [month]).fetchone()[0]
    return total


def spill(events: Path, since: float) -> dict[str, int]:
    """Bytes spilled by the tasks of the event logs written after `since`."""
    memory = disk = 0
    for log in events.rglob("*"):  # Spark 4 writes a folder per application (rolling event logs)
        if not log.is_file() or log.stat().st_mtime < since:
            continue
        with log.open() as lines:
            for line in lines:
                if '"SparkListenerTaskEnd"' not in line:
                    continue
                metrics = json.loads(line).get("Task Metrics") or {}
                memory += metrics.get("Memory Bytes Spilled", 0)
                disk += metrics.get("Disk Bytes Spilled", 0)
    return {"spill_memory_mb": round(memory / 2**20), "spill_disk_mb": round(disk / 2**20)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--edges-per-subscriber", type=float, default=20)
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--out", default="monthly", help="folder under benchmarks/results")
    parser.add_argument("--keep", action="store_true", help="keep the data of each size")
    parser.add_argument("--reuse", action="store_true",
                        help="skip the set-up stages of a size whose data a --keep run left")
    args = parser.parse_args()
    from sparkvalue.config import load_config
    from sparkvalue.generate.extracts import month_list
    from sparkvalue.lakehouse.readers import duckdb_connect

    months = month_list(load_config("local").generate.end_month, args.months)
    month, history = months[-1], months[:-1]
    command = "python benchmarks/monthly.py " + " ".join(sys.argv[1:])
    out = REPO / "benchmarks" / "results" / args.out
    results: list[dict] = []
    for n in args.subscribers:
        work = REPO / "benchmarks" / ".work" / f"monthly-{n}"
        files = max(2, min(64, n // 50_000))
        events = work / "events"
        events.mkdir(parents=True, exist_ok=True)
        prepare_env(work, {
            "spark": {"driver_memory": args.driver_memory, "shuffle_partitions": max(4, files),
                      "conf": {"spark.eventLog.enabled": "true", "spark.eventLog.dir": str(events),
                               "spark.eventLog.compress": "false",  # Spark 4 compresses by default
                               "spark.ui.showConsoleProgress": "false"}},
            "generate": {"subscribers": n, "months": args.months,
                         "edges_per_subscriber": args.edges_per_subscriber,
                         "format": "parquet", "files_per_month": files},
            "ingest": {"format": "parquet"},
        })
        lakehouse = work / ".data" / "lakehouse"
        per_month = [a for m in history for a in ("--month", m)]
        plan = [("setup: generate", ["generate"], None),
                ("setup: ingest history", ["ingest", *per_month], None),
                ("setup: features history", ["features", *per_month], None),
                ("ingest", ["ingest", "--month", month], "ingest"),
                ("features", ["features", "--month", month], "features"),
                ("train (all models)", ["train"], "train"),
                ("score", ["score", "--month", month], "score"),
                ("recommend", ["recommend", "--month", month], "recommend"),
                ("evaluate", ["evaluate", "--month", month], "evaluate")]
        if args.reuse and (lakehouse / "silver").is_dir():
            plan = [step for step in plan if step[2]]
        for stage, cmd, kind in plan:
            con = duckdb_connect() if kind else None
            before = rows_read(con, lakehouse, kind, month) if kind else ""
            started, since_ms = time.time(), int(time.time() * 1000)
            result = run_stage(stage, cmd, env_dir=work, log=work / f"{stage.replace(' ', '_')}.log")
            result.update(subscribers=n, rows_in=before,
                          rows_out=rows_written(lakehouse, since_ms), **spill(events, started))
            result["rows"] = f"in {result['rows_in']:,} / out {result['rows_out']:,}" if kind else \
                f"out {result['rows_out']:,}"
            results.append(result)
            print(json.dumps(result), flush=True)
            write_report(results, out, "Monthly job and training job", command)
        reference = duckdb_reference(lakehouse, month)
        features = next(r for r in results if r["subscribers"] == n and r["stage"] == "features")
        for part in ("usage", "circle"):
            results.append({"stage": f"DuckDB reference: {part} aggregation", "subscribers": n,
                            "seconds": reference[part], "peak_driver_mb": "", "peak_tree_mb": "",
                            "rows": f"out {reference[part + '_rows']:,}"})
        monthly = sum(r["seconds"] for r in results if r["subscribers"] == n and
                      r["stage"] in ("ingest", "features", "score", "recommend", "evaluate"))
        ratio = features["seconds"] / max(reference["usage"] + reference["circle"], 0.1)
        results.append({"stage": "monthly job (ingest .. evaluate, without training)", "subscribers": n,
                        "seconds": round(monthly, 1), "peak_driver_mb": "", "peak_tree_mb": "",
                        "rows": f"features stage / DuckDB usage + circle: {ratio:.0f}x"})
        write_report(results, out, "Monthly job and training job", command)
        if not args.keep:
            shutil.rmtree(work / ".data", ignore_errors=True)


if __name__ == "__main__":
    main()
