"""Benchmark of the foundation stages: generate and ingest at given sizes.

    .venv/bin/python benchmarks/foundation.py --subscribers 100000 1000000

writes benchmarks/results/foundation/results.{json,md}. Data goes to
benchmarks/.work/<size>/ (ignored by git) and is removed afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import REPO, prepare_env, run_stage, write_report  # noqa: E402


def _rows(log: Path) -> str:
    """The loaded/quarantined table printed by `sparkvalue ingest`."""
    lines = log.read_text().splitlines()
    rows = [line.split() for line in lines if line.startswith("  ") and len(line.split()) == 3
            and line.split()[1].replace(",", "").isdigit()]
    return "; ".join(f"{t} {n}" for t, n, _ in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--months", type=int, default=13)
    parser.add_argument("--edges-per-subscriber", type=float, default=18)
    parser.add_argument("--edge-months", type=int, default=None,
                        help="call edges only for the last N months (default: every month)")
    parser.add_argument("--ingest-months", type=int, default=None,
                        help="ingest only the last N months (default: every month)")
    parser.add_argument("--out", default="foundation", help="folder under benchmarks/results")
    parser.add_argument("--format", choices=("csv", "parquet"), default="parquet")
    parser.add_argument("--driver-memory", default="8g")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    results = []
    out = REPO / "benchmarks" / "results" / args.out
    for n in args.subscribers:
        work = REPO / "benchmarks" / ".work" / str(n)
        files = max(2, min(64, n // 50_000))
        prepare_env(work, {
            "spark": {"driver_memory": args.driver_memory, "shuffle_partitions": max(4, files)},
            "generate": {"subscribers": n, "months": args.months,
                         "edges_per_subscriber": args.edges_per_subscriber,
                         "edge_months": args.edge_months,
                         "format": args.format, "files_per_month": files},
            "ingest": {"format": args.format},
        })
        if args.ingest_months:
            import yaml

            from sparkvalue.generate.extracts import month_list
            end = yaml.safe_load((REPO / "conf" / "base.yaml").read_text())["generate"]["end_month"]
            ingest = ["ingest", *[a for m in month_list(end, args.months)[-args.ingest_months:]
                                  for a in ("--month", m)]]
        else:
            ingest = ["ingest", "--all"]
        for stage, cmd in (("generate", ["generate"]), ("ingest", ingest)):
            log = work / f"{stage}.log"
            result = run_stage(stage, cmd, env_dir=work, log=log)
            result["subscribers"] = n
            if stage == "ingest":
                result["rows"] = _rows(log)
            results.append(result)
            print(json.dumps(result), flush=True)
            write_report(results, out, "Foundation stages: generate and ingest",
                         "python benchmarks/foundation.py " + " ".join(sys.argv[1:]))
        if not args.keep:
            shutil.rmtree(work / ".data", ignore_errors=True)


if __name__ == "__main__":
    main()
