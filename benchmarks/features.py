"""Benchmark of the feature and graph stages, with DuckDB as the single-machine reference.

    .venv/bin/python benchmarks/foundation.py --subscribers 1000000 --keep ...
    .venv/bin/python benchmarks/features.py --work benchmarks/.work/1000000 --month 2026-10

Runs `sparkvalue features --month M` on the bronze tables of a kept foundation run
(wall time and peak memory), then DuckDB on the same bronze Parquet files
(read with DuckDB's Delta extension, `harness.duckdb_reference`):
the usage windows (3/6-month averages, same month last year, the 3-month band)
and the circle aggregations (breadth, depth, operator shares) of the month.
Results go to benchmarks/results/features/.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import REPO, duckdb_reference, run_stage, write_report  # noqa: E402


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
    for part, stage in (("usage", "duckdb_usage_windows"), ("circle", "duckdb_circle_aggregation")):
        results.append({"stage": stage, "seconds": reference[part], "peak_driver_mb": "",
                        "peak_tree_mb": "", "subscribers": n, "rows": reference[f"{part}_rows"]})
    print(json.dumps(results, indent=1))
    write_report(results, REPO / "benchmarks" / "results" / "features",
                 "Feature and graph stages, with the DuckDB reference",
                 "python benchmarks/features.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
