"""A/B of a Spark SQL setting on the feature queries of a kept set-up, in one process.

    .venv/bin/python benchmarks/ab.py --work benchmarks/.work/monthly-1000000 --query graph \\
        --setting spark.sql.adaptive.maxShuffledHashJoinLocalMapThreshold --values 64MB 0 --rounds 2
    .venv/bin/python benchmarks/ab.py --work benchmarks/.work/monthly-1000000 --query vpn \\
        --also spark.sql.optimizer.runtime.bloomFilter.creationSideThreshold=2GB \\
        --setting spark.sql.optimizer.runtime.bloomFilter.applicationSideScanSizeThreshold --values 10GB 64MB

On this machine a whole monthly run varies by up to 12 % per stage from run to run, more
than most single changes gain. Here one Spark application computes the query (the
subscriber features or the graph features of the month, gold.vpn_targets from the month's
features, segments and call edges, or training's shared model frame of the trees over
silver's months) into a scratch Parquet folder beside the set-up (removed at the end), not
Delta; not to a `noop` sink either: Delta prepares its scans (the files of the months read,
which size a join's sides for the planner) for every query but a DataSource V2 write such as
`noop`, where the planner sized every side as its whole table and shuffled joins that the job,
which persists and writes through Delta's V1 path, broadcasts)
once to warm up, then `--rounds` times per value, the values alternating, so that drift of
the machine falls on every value alike. The setting is changed at run time
(`spark.conf.set`): only settings the SQL planner reads per query (adaptive execution,
joins, code generation ...) can be compared this way. Prints the seconds of every run and
the best per value; leaves nothing but Spark's event log.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", required=True, help="benchmarks/.work/monthly-<n> of a --keep run")
    parser.add_argument("--query", choices=("subscriber", "graph", "vpn", "frame"), required=True)
    parser.add_argument("--setting", required=True)
    parser.add_argument("--also", nargs="*", default=[], metavar="KEY=VALUE",
                        help="settings set once for every run")
    parser.add_argument("--values", nargs="+", required=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--month", default=None, help="default: the latest month in bronze")
    args = parser.parse_args()

    from sparkvalue import pipeline
    from sparkvalue.config import load_config
    from sparkvalue.models.training import tree_kinds
    from sparkvalue.session import build_session

    settings = load_config("bench", str(Path(args.work).resolve() / "conf"))
    also = [pair.split("=", 1) for pair in args.also]
    for pair, kv in zip(args.also, also, strict=True):
        if len(kv) != 2 or not all(kv):
            parser.error(f"--also {pair!r}: expected KEY=VALUE")
    spark = build_session(settings, app_name="sparkvalue-ab")
    for key, value in also:
        spark.conf.set(key, value)
    if args.query == "frame":  # training's shared model frame over silver's months (--month: the last)
        silver = [m for m in pipeline.silver_months(spark, settings) if not args.month or m <= args.month]
        months = silver[-1:]
        kinds = tree_kinds(settings)  # the trees' frame of all rows (`training_frame` keeps those they read)

        def query(spark, settings, _):
            return pipeline.training_frame_query(spark, settings, kinds, silver)
    else:
        months = [args.month or pipeline.bronze_months(spark, settings)[-1]]
        query = {"subscriber": pipeline.subscriber_query, "graph": pipeline.graph_query,
                 "vpn": pipeline.vpn_targets_query}[args.query]

    scratch = Path(args.work).resolve() / "ab-scratch"

    def run(value: str) -> float:
        spark.conf.set(args.setting, value)
        started = time.perf_counter()
        query(spark, settings, months).write.mode("overwrite").parquet(str(scratch))
        return time.perf_counter() - started

    print(f"{args.query} of {months[0]}, {args.setting}", flush=True)
    print(f"warm-up ({args.values[0]}): {run(args.values[0]):.1f} s", flush=True)
    seconds: dict[str, list[float]] = {v: [] for v in args.values}
    for r in range(args.rounds):
        for value in args.values:
            seconds[value].append(run(value))
            print(f"round {r + 1} {value}: {seconds[value][-1]:.1f} s", flush=True)
    shutil.rmtree(scratch, ignore_errors=True)
    for value, runs in seconds.items():
        print(f"{value}: best {min(runs):.1f} s of " + ", ".join(f"{s:.1f}" for s in runs))


if __name__ == "__main__":
    main()
