"""`sparkvalue` command line: one sub-command per stage, plus `demo` for everything."""

from __future__ import annotations

import argparse
import logging
import re
import sys
import time

from sparkvalue.config import ConfigError, load_config


def _month(value: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise argparse.ArgumentTypeError(f"month must look like 2026-10, got {value!r}")
    return value


def _month_target(parser: argparse.ArgumentParser, month_help: str, all_help: str) -> None:
    """`--month M` (repeatable) or `--all`, exactly one of them."""
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--month", type=_month, action="append", help=month_help)
    target.add_argument("--all", action="store_true", help=all_help)


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", default="local", help="configuration environment (conf/<env>.yaml)")
    common.add_argument("--conf-dir", default=None, help="folder of base.yaml and <env>.yaml")
    parser = argparse.ArgumentParser(prog="sparkvalue", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", parents=[common],
                       help="write synthetic operator data to the landing folder")
    g.add_argument("--subscribers", type=int)
    g.add_argument("--months", type=int)
    g.add_argument("--seed", type=int)
    g.add_argument("--end-month", type=_month)
    g.add_argument("--edges-per-subscriber", type=float)
    g.add_argument("--edge-months", type=int)
    g.add_argument("--format", choices=("csv", "parquet"))
    g.add_argument("--files-per-month", type=int)

    i = sub.add_parser("ingest", parents=[common],
                       help="validate landing extracts into bronze Delta tables")
    target = i.add_mutually_exclusive_group(required=True)
    target.add_argument("--month", type=_month, action="append",
                        help="month to ingest (repeatable)")
    target.add_argument("--all", action="store_true", help="every month of the generator's range")
    i.add_argument("--format", choices=("csv", "parquet"))

    f = sub.add_parser("features", parents=[common],
                       help="silver features, graph features and warnings from bronze")
    _month_target(f, "month to compute (repeatable)", "every month in bronze")

    t = sub.add_parser("train", parents=[common],
                       help="train the stickiness and anomaly trees (MLflow runs, registry, champion gate)")
    t.add_argument("--model", action="append", metavar="KIND",
                   help="train only this model (repeatable): stickiness, anomaly, segments, "
                        "propensity (every propensity model) or propensity-<name>; default all")

    s = sub.add_parser("score", parents=[common],
                       help="gold value, stickiness and anomaly tables from the champion models")
    _month_target(s, "month to score (repeatable)", "every month in silver")

    r = sub.add_parser("recommend", parents=[common],
                       help="marketing matrix, recommendations, discount audit, segment codes, "
                            "corporate groups and VPN targets from the gold model tables")
    _month_target(r, "month (repeatable)", "every month in silver")

    e = sub.add_parser("evaluate", parents=[common],
                       help="campaign results against control groups and uplift by propensity decile")
    _month_target(e, "contact month (repeatable)", "every month of the contact history")

    rp = sub.add_parser("report", parents=[common],
                        help="write a self-contained HTML report of a month (charts) and print its path")
    rp.add_argument("--month", type=_month, help="month of the report (default: the latest recommended)")

    c = sub.add_parser("card", parents=[common],
                       help="print the front-line card of one subscriber from the gold tables")
    c.add_argument("subscriber", help="the subscriber's phone number (looked up by its pseudonym)")
    c.add_argument("--month", type=_month, help="month of the card (default: the latest recommended)")

    m = sub.add_parser("run", parents=[common],
                       help="the monthly job: ingest, features, score, recommend and evaluate")
    _month_target(m, "month to run (repeatable)", "every month in the landing folder")
    m.add_argument("--train", action="store_true", help="retrain every model before scoring")

    sub.add_parser("serve-sql", parents=[common],
                   help="serve every lakehouse table over JDBC/ODBC (Spark Thrift server, loopback)")
    sub.add_parser("serve-mlflow", parents=[common],
                   help="start the MLflow tracking server on serving.mlflow_backend_store (loopback)")

    sub.add_parser("quality", parents=[common],
                   help="generated data only: champion models against the generator's truth")
    sub.add_parser("demo", parents=[common],
                   help="generate the demo data and run every stage on it")
    sub.add_parser("docs", parents=[common], help="rewrite docs/data-contract.md and docs/tables.md")
    return parser


def _train_kinds(settings, asked: list[str] | None) -> tuple[str, ...] | None:
    """`propensity` stands for every configured propensity model; unknown kinds are refused."""
    if not asked:
        return None
    from sparkvalue.models.training import tree_kinds

    known = (*tree_kinds(settings), "segments")
    kinds = []
    for kind in asked:
        expanded = [k for k in known if k.startswith("propensity-")] if kind == "propensity" else [kind]
        for k in expanded:
            if k not in known:
                raise SystemExit(f"sparkvalue train: unknown --model {k!r}; known: propensity, "
                                 + ", ".join(known))
            kinds.append(k)
    return tuple(dict.fromkeys(kinds))


def _overrides(args: argparse.Namespace) -> dict:
    gen = {k: v for k, v in {
        "subscribers": getattr(args, "subscribers", None),
        "months": getattr(args, "months", None),
        "seed": getattr(args, "seed", None),
        "end_month": getattr(args, "end_month", None),
        "edges_per_subscriber": getattr(args, "edges_per_subscriber", None),
        "edge_months": getattr(args, "edge_months", None),
        "files_per_month": getattr(args, "files_per_month", None),
    }.items() if v is not None}
    out: dict = {}
    if args.command == "generate" and args.format:
        gen["format"] = args.format
    if gen:
        out["generate"] = gen
    if args.command == "ingest" and args.format:
        out["ingest"] = {"format": args.format}
    return out


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = _parser().parse_args(argv)
    try:
        settings = load_config(args.env, args.conf_dir)
        overrides = _overrides(args)
        if overrides:
            settings = settings.with_overrides(overrides)
    except ConfigError as exc:
        print(f"sparkvalue: {exc}", file=sys.stderr)
        return 2
    if args.command == "docs":
        from sparkvalue.contract.docs import write_contract_doc
        from sparkvalue.lakehouse.docs import write_tables_doc

        print(write_contract_doc(settings.root))
        print(write_tables_doc(settings.root))
        return 0
    from sparkvalue import runner as jobs

    try:
        if args.command == "generate":
            jobs.run_generate(settings)
        elif args.command == "ingest":
            jobs.run_ingest(settings, None if args.all else args.month)
        elif args.command == "features":
            jobs.run_features(settings, None if args.all else args.month)
        elif args.command == "train":
            jobs.run_train(settings, _train_kinds(settings, args.model))
        elif args.command == "score":
            jobs.run_score(settings, None if args.all else args.month)
        elif args.command == "recommend":
            jobs.run_recommend(settings, None if args.all else args.month)
        elif args.command == "evaluate":
            jobs.run_evaluate(settings, None if args.all else args.month)
        elif args.command == "report":
            jobs.run_report(settings, args.month)
        elif args.command == "card":
            jobs.run_card(settings, args.subscriber, args.month)
        elif args.command == "run":
            jobs.run_monthly(settings, None if args.all else args.month, train=args.train)
        elif args.command == "serve-sql":
            jobs.run_serve_sql(settings)
        elif args.command == "serve-mlflow":
            return jobs.run_serve_mlflow(settings)
        elif args.command == "quality":
            jobs.run_quality(settings)
        elif args.command == "demo":
            started = time.perf_counter()
            jobs.run_demo(settings)
            print(f"demo finished in {time.perf_counter() - started:.0f}s")
    except Exception as exc:  # the message is the product; the traceback goes to the log
        logging.getLogger("sparkvalue").debug("failed", exc_info=True)
        print(f"sparkvalue {args.command}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
