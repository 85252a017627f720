"""Benchmark of the feature and graph stages, with DuckDB as the single-machine reference.

    .venv/bin/python benchmarks/foundation.py --subscribers 1000000 --keep ...
    .venv/bin/python benchmarks/features.py --work benchmarks/.work/1000000 --month 2026-10

Runs `sparkvalue features --month M` on the bronze tables of a kept foundation run
(wall time and peak memory), then DuckDB on the same bronze Parquet files
(the files of the current Delta snapshot, listed by the `deltalake` package):
the usage windows (3/6-month averages, same month last year, the 3-month band)
and the circle aggregations (breadth, depth, operator shares) of the month.
Results go to benchmarks/results/features/.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import REPO, run_stage, write_report  # noqa: E402


def _files(table: Path) -> list[str]:
    from deltalake import DeltaTable

    return DeltaTable(str(table)).file_uris()


def duckdb_reference(lakehouse: Path, month: str) -> dict[str, float]:
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    usage = _files(lakehouse / "bronze" / "usage_monthly")
    edges = [f for f in _files(lakehouse / "bronze" / "call_edges") if f"month={month}" in f]
    year, mon = map(int, month.split("-"))
    index = year * 12 + mon - 1
    timings = {}
    started = time.perf_counter()
    con.execute(f"""
        CREATE TEMP TABLE usage_features AS
        WITH u AS (
            SELECT subscriber_id, month, revenue, outgoing_min + incoming_min AS mou, data_mb,
                   CAST(substr(month, 1, 4) AS INT) * 12 + CAST(substr(month, 6, 2) AS INT) - 1 AS m
            FROM read_parquet({usage!r}, hive_partitioning = true)
            WHERE month <= '{month}'
        )
        SELECT subscriber_id,
               avg(revenue) FILTER (WHERE m > {index} - 3) AS revenue_3m_avg,
               avg(revenue) FILTER (WHERE m > {index} - 6) AS revenue_6m_avg,
               avg(mou) FILTER (WHERE m > {index} - 3) AS mou_3m_avg,
               avg(data_mb) FILTER (WHERE m > {index} - 3) AS data_3m_avg,
               max(revenue) FILTER (WHERE m = {index} - 12) AS revenue_ly,
               min(revenue) FILTER (WHERE m BETWEEN {index} - 3 AND {index} - 1) AS band_min,
               max(revenue) FILTER (WHERE m BETWEEN {index} - 3 AND {index} - 1) AS band_max,
               max(revenue) FILTER (WHERE m = {index}) AS revenue
        FROM u GROUP BY subscriber_id HAVING max(m) = {index}
    """)
    timings["duckdb_usage_windows"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    con.execute(f"""
        CREATE TEMP TABLE circle AS
        SELECT caller_id, count(*) AS breadth, sum(minutes) AS depth, sum(calls) AS calls,
               avg(CASE WHEN callee_operator IN ('own', 'own_other_region') THEN 1 ELSE 0 END) AS onnet,
               avg(CASE WHEN callee_operator = 'competitor' THEN 1 ELSE 0 END) AS competitor
        FROM read_parquet({edges!r}, hive_partitioning = true)
        GROUP BY caller_id
    """)
    timings["duckdb_circle_aggregation"] = round(time.perf_counter() - started, 1)
    timings["duckdb_rows"] = con.execute("SELECT count(*) FROM usage_features").fetchone()[0]
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", required=True, help="folder of a kept foundation run")
    parser.add_argument("--month", required=True)
    args = parser.parse_args()
    work = Path(args.work).resolve()
    n = int(work.name)
    log = work / "features.log"
    result = run_stage("features", ["features", "--month", args.month], env_dir=work, log=log)
    per_table = dict(re.findall(r"^\s+(\w+)\s+\S+\s+\((\d+)s\)$", log.read_text(), flags=re.M))
    result.update(subscribers=n, rows=", ".join(f"{k} {v}s" for k, v in per_table.items()))
    results = [result]
    reference = duckdb_reference(work / ".data" / "lakehouse", args.month)
    for stage in ("duckdb_usage_windows", "duckdb_circle_aggregation"):
        results.append({"stage": stage, "seconds": reference[stage], "peak_driver_mb": "",
                        "peak_tree_mb": "", "subscribers": n, "rows": reference["duckdb_rows"]})
    print(json.dumps(results, indent=1))
    write_report(results, REPO / "benchmarks" / "results" / "features",
                 "Feature and graph stages, with the DuckDB reference",
                 "python benchmarks/features.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
