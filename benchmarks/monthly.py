"""Benchmark of the monthly job and the training job at given sizes (issue 9).

    .venv/bin/python benchmarks/monthly.py --subscribers 100000 1000000 3200000 6400000

For each size, in benchmarks/.work/monthly-<size>/ (ignored by git):

1. set-up (timed, reported apart): generate N subscribers x 13 months with about 20
   call-circle edges per subscriber per month (Parquet landing), ingest the 12 months
   before the latest and compute their features: the history a monthly run finds;
2. the monthly job of the latest month as production runs it, one process:
   `sparkvalue run --month M --train` (ingest, features with the call-circle graph, the
   training job with all models, score, recommend, evaluate). The job logs when each
   stage starts and finishes; the harness splits the process into its stages by those
   lines, and reports training apart from the monthly job. The monthly job's total is
   the process's wall time (start-up included) without training;
3. the single-machine reference: DuckDB (2 threads, its Delta extension) computing the
   usage windows and the circle aggregation of the month from the same bronze tables, and
   Spark running the same SQL (the engine's own floor for that work). The report gives
   the times sparkvalue logged for silver.subscriber_features (the usage windows with
   every other subscriber feature) and silver.graph_features (the circle aggregation with
   PageRank and communities) as ratios to DuckDB.

Per stage: wall time, rows in (rows of the month in the stage's input tables: landing
files for ingest, Delta tables for the others) and out (`numOutputRows` of the Delta
commits made while the stage ran), peak resident memory of the driver JVM and of the
whole process tree, and spill (memory and disk bytes spilled by the tasks that finished
while the stage ran, from the Spark event log). Results:
benchmarks/results/<out>/results.{json,md}, and the monthly job's log as monthly-<size>.log.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import REPO, duckdb_reference, prepare_env, run_stage, spark_reference, write_report  # noqa: E402

# The tables each monthly stage after ingest reads (rows of the month; ingest reads landing files).
INPUTS = {
    "features": ["bronze/subscribers", "bronze/usage_monthly", "bronze/call_edges", "bronze/bundles",
                 "bronze/product_events"],
    "train": ["silver/subscriber_features", "silver/graph_features", "silver/warnings"],
    "score": ["silver/subscriber_features", "silver/graph_features", "silver/warnings"],
    "recommend": ["gold/value", "gold/stickiness", "gold/anomaly", "gold/segments", "gold/propensity"],
    "evaluate": ["bronze/contact_history", "gold/recommendations"],
}


def _lake_tables(lakehouse: Path) -> list[Path]:
    return sorted(p.parent for p in lakehouse.glob("*/*/_delta_log"))


def delta_commits(lakehouse: Path) -> list[tuple[int, int]]:
    """(epoch ms, `numOutputRows`) of every Delta commit of every lakehouse table."""
    from deltalake import DeltaTable

    return [(commit.get("timestamp", 0),
             int((commit.get("operationMetrics") or {}).get("numOutputRows", 0) or 0))
            for table in _lake_tables(lakehouse) for commit in DeltaTable(str(table)).history()]


def rows_written(commits: list[tuple[int, int]], start_ms: int, end_ms: int) -> int:
    """Rows of the commits (`delta_commits`) made between `start_ms` and `end_ms`."""
    return sum(rows for when, rows in commits if start_ms <= when <= end_ms)


def rows_read(con, lakehouse: Path, stage: str, month: str) -> int:
    """Rows of `month` in the stage's inputs: the landing files of the month for ingest."""
    if stage == "ingest":
        landing = lakehouse.parent / "landing"
        files = [str(f) for f in sorted(landing.glob(f"*/extract={month}/*.parquet"))]
        return con.execute("SELECT count(*) FROM read_parquet(?, union_by_name = true)",
                           [files]).fetchone()[0] if files else 0
    total = 0
    for name in INPUTS[stage]:
        path = lakehouse / name
        if (path / "_delta_log").is_dir():
            total += con.execute(f"SELECT count(*) FROM delta_scan('{path}') WHERE month = ?",
                                 [month]).fetchone()[0]
    return total


def task_spills(events: Path, since: float) -> list[tuple[float, int, int]]:
    """(finish epoch seconds, memory bytes, disk bytes) spilled by every task of the event
    logs written after `since`."""
    out = []
    for log in events.rglob("*"):  # Spark 4 writes a folder per application (rolling event logs)
        if not log.is_file() or log.stat().st_mtime < since:
            continue
        with log.open() as lines:
            for line in lines:
                if '"SparkListenerTaskEnd"' not in line:
                    continue
                event = json.loads(line)
                metrics = event.get("Task Metrics") or {}
                out.append((event["Task Info"]["Finish Time"] / 1000,
                            metrics.get("Memory Bytes Spilled", 0), metrics.get("Disk Bytes Spilled", 0)))
    return out


def spill(tasks: list[tuple[float, int, int]], start: float, end: float) -> dict[str, int]:
    inside = [t for t in tasks if start <= t[0] <= end]
    return {"spill_memory_mb": round(sum(t[1] for t in inside) / 2**20),
            "spill_disk_mb": round(sum(t[2] for t in inside) / 2**20)}


OUTSIDE = "outside the stages (Python start-up, shutdown; the Spark session starts in ingest)"
STAGE_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3}) \w+ sparkvalue\.runner: "
                        r"monthly stage (\w+) (started|finished)")


def stage_windows(log: Path) -> dict[str, tuple[float, float]]:
    """Epoch seconds at which each stage of a `sparkvalue run` started and finished, from
    its log (the job logs in local time, as this process reads it)."""
    marks: dict[str, dict[str, float]] = {}
    for line in log.read_text(errors="replace").splitlines():
        match = STAGE_LINE.match(line)
        if match:
            when = time.mktime(time.strptime(match[1], "%Y-%m-%d %H:%M:%S")) + int(match[2]) / 1000
            marks.setdefault(match[3], {})[match[4]] = when
    return {name: (m["started"], m["finished"]) for name, m in marks.items()}


TABLE_LINE = re.compile(r"sparkvalue: silver \S+: (\w+) in ([\d.]+)s$")


def table_seconds(log: Path) -> dict[str, float]:
    """Seconds the job logged for each silver table of the features stage (subscriber_features
    holds the usage windows, graph_features the circle aggregation and the graph)."""
    return {m[1]: float(m[2]) for line in log.read_text(errors="replace").splitlines()
            if (m := TABLE_LINE.search(line))}


def _peak(samples: list[tuple[float, float, float]], start: float, end: float) -> tuple:
    """Peak driver RSS and tree PSS (MB) sampled between `start` and `end`; blank if no sample
    fell in (a stage shorter than the sampling interval)."""
    inside = [s for s in samples if start <= s[0] <= end]
    if not inside:
        return "", ""
    return round(max(s[1] for s in inside)), round(max(s[2] for s in inside))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--edges-per-subscriber", type=float, default=20)
    parser.add_argument("--edge-months", type=int, default=None,
                        help="call edges for the last n months only (the monthly run reads the latest "
                             "two; default: every month). Makes the set-up of the history cheaper; the "
                             "history months' graph features are then empty")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--shuffle-partitions", type=int,
                        help="spark.sql.shuffle.partitions (default: one per 50,000 subscribers, at least "
                             "4; 20 at 100k made the monthly stages and training slower)")
    parser.add_argument("--out", default="monthly", help="folder under benchmarks/results")
    parser.add_argument("--keep", action="store_true", help="keep the data of each size")
    parser.add_argument("--reuse", action="store_true",
                        help="skip the set-up stages of a size that a --keep run, or an interrupted "
                             "one, finished (its figures are reported as from an earlier run)")
    parser.add_argument("--setup-only", action="store_true",
                        help="stop after the set-up (with --keep: the monthly job runs later with --reuse)")
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
            "spark": {"driver_memory": args.driver_memory,
                      "shuffle_partitions": args.shuffle_partitions or max(4, files),
                      "conf": {"spark.eventLog.enabled": "true", "spark.eventLog.dir": str(events),
                               "spark.eventLog.compress": "false",  # Spark 4 compresses by default
                               "spark.ui.showConsoleProgress": "false"}},
            "generate": {"subscribers": n, "months": args.months,
                         "edges_per_subscriber": args.edges_per_subscriber,
                         "edge_months": args.edge_months, "format": "parquet", "files_per_month": files},
            "ingest": {"format": "parquet"},
        })
        lakehouse = work / ".data" / "lakehouse"
        # the history three months a process: an interrupted set-up (3.2M and 6.4M take hours)
        # goes on with --reuse after the last finished process (one a month would add ~1 minute
        # of process start-up and cold queries a month)
        chunks = [[a for m in history[i:i + 3] for a in ("--month", m)] for i in range(0, len(history), 3)]
        setup = [("setup: generate", [["generate"]]),
                 ("setup: ingest history", [["ingest", *chunk] for chunk in chunks]),
                 ("setup: features history", [["features", *chunk] for chunk in chunks])]
        # a marker per finished set-up stage and process; a silver folder without markers is the
        # complete set-up of a --keep run from before them
        finished = lakehouse.parent / "setup-finished"
        before_markers = (lakehouse / "silver").is_dir() and not finished.is_dir()
        for stage, steps in setup:
            marker = finished / stage.replace(": ", "-").replace(" ", "-")
            if args.reuse and (before_markers or marker.exists()):
                if marker.exists():  # its figures, measured by the run that did it
                    results.append({**json.loads(marker.read_text()), "stage": f"{stage} (earlier run)"})
                continue
            parts = []
            for cmd in steps:
                part = marker.with_name(f"{marker.name}-{cmd[-1]}") if len(steps) > 1 else None
                if args.reuse and part is not None and part.exists():
                    parts.append(json.loads(part.read_text()))
                    continue
                name = f"{stage} {cmd[2]}..{cmd[-1]}" if part else stage
                started, since_ms = time.time(), int(time.time() * 1000)
                result = run_stage(name, cmd, env_dir=work, log=work / f"{name.replace(' ', '_')}.log")
                written = rows_written(delta_commits(lakehouse), since_ms, 2**62)
                result.update(written=written, **spill(task_spills(events, started), started, time.time()))
                parts.append(result)
                print(json.dumps(result), flush=True)
                if part is not None:
                    finished.mkdir(parents=True, exist_ok=True)
                    part.write_text(json.dumps(result))
            written = sum(p.pop("written") for p in parts)
            result = {"stage": stage, "subscribers": n, "rows": f"out {written:,}",
                      **{key: round(sum(p[key] for p in parts), 1)
                         for key in ("seconds", "spill_memory_mb", "spill_disk_mb")},
                      **{key: max(p[key] for p in parts) for key in ("peak_driver_mb", "peak_tree_mb")}}
            results.append(result)
            write_report(results, out, "Monthly job and training job", command)
            finished.mkdir(parents=True, exist_ok=True)
            marker.write_text(json.dumps(result))
        if args.setup_only:
            continue
        log, samples, started = work / "monthly.log", [], time.time()
        whole = run_stage("monthly", ["run", "--month", month, "--train"], env_dir=work, log=log,
                          samples=samples)
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, out / f"monthly-{n}.log")  # the job's own log (it names no subscriber)
        tasks, windows, con = task_spills(events, started), stage_windows(log), duckdb_connect()
        commits = delta_commits(lakehouse)  # read once, split by the stage windows
        for kind in ("ingest", "features", "train", "score", "recommend", "evaluate"):
            start, end = windows[kind]
            driver, tree = _peak(samples, start, end)
            result = {"stage": "train (all models)" if kind == "train" else kind, "subscribers": n,
                      "seconds": round(end - start, 1), "peak_driver_mb": driver, "peak_tree_mb": tree,
                      "rows_in": rows_read(con, lakehouse, kind, month),
                      "rows_out": rows_written(commits, round(start * 1000), round(end * 1000)),
                      **spill(tasks, start, end)}
            result["rows"] = f"in {result['rows_in']:,} / out {result['rows_out']:,}"
            results.append(result)
            print(json.dumps(result), flush=True)
        training = windows["train"][1] - windows["train"][0]
        untrained = [x for x in samples if not windows["train"][0] <= x[0] <= windows["train"][1]]
        monthly_peak = _peak(untrained, 0, float("inf"))
        staged = sum(end - start for start, end in windows.values())
        results.append({"stage": OUTSIDE, "subscribers": n,
                        "seconds": round(whole["seconds"] - staged, 1), "peak_driver_mb": "",
                        "peak_tree_mb": "", "rows": ""})
        write_report(results, out, "Monthly job and training job", command)
        references = {"DuckDB reference": duckdb_reference(lakehouse, month),
                      "Spark, the same SQL": spark_reference(work, month)}
        tables = table_seconds(log)
        for engine, reference in references.items():
            for part in ("usage", "circle"):
                results.append({"stage": f"{engine}: {part} aggregation", "subscribers": n,
                                "seconds": reference[part], "peak_driver_mb": "", "peak_tree_mb": "",
                                "rows": f"out {reference[part + '_rows']:,}"})
        duck = references["DuckDB reference"]
        ratios = [f"{name} / DuckDB {part}: {tables[name] / max(duck[part], 0.1):.0f}x"
                  for name, part in (("subscriber_features", "usage"), ("graph_features", "circle"))
                  if name in tables]
        ratios += [f"Spark / DuckDB on the same {part} SQL: "
                   f"{references['Spark, the same SQL'][part] / max(duck[part], 0.1):.1f}x"
                   for part in ("usage", "circle")]
        monthly = whole["seconds"] - training
        results.append({"stage": "monthly job (one process: ingest .. evaluate, without training)",
                        "subscribers": n, "seconds": round(monthly, 1),
                        "peak_driver_mb": monthly_peak[0], "peak_tree_mb": monthly_peak[1],
                        "rows": "; ".join(ratios)})
        write_report(results, out, "Monthly job and training job", command)
        if not args.keep:
            shutil.rmtree(work / ".data", ignore_errors=True)


if __name__ == "__main__":
    main()
