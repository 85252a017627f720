"""Run sparkvalue commands as processes and measure them.

Each command is one `sparkvalue <command>` process on its own configuration
environment (`conf/` copied beside the benchmark's data, plus `bench.yaml`).
While it runs, the process tree's memory is sampled from /proc twice a second: the
peak resident memory (RSS) of the JVM (the Spark driver, which in local mode also runs
the executors) and the peak of the whole tree's proportional set size (PSS: a page
shared by several processes counts once in their sum, where RSS would count it in
each) are reported with the wall time.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import threading
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(entry.name))
    return out


def _proc_mb(pid: int, name: str, field: str) -> float | None:
    """The `field:` line (kB) of /proc/<pid>/<name> in MB; None if the process or line is gone."""
    try:
        for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _rss_mb(pid: int) -> float:
    return _proc_mb(pid, "status", "VmRSS") or 0.0


def _pss_mb(pid: int) -> float:
    """The process's proportional set size (its share of each page it maps); its RSS where
    the kernel gives no smaps_rollup."""
    pss = _proc_mb(pid, "smaps_rollup", "Pss")
    return _rss_mb(pid) if pss is None else pss


def _is_java(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "java"
    except OSError:
        return False


def run_stage(name: str, args: list[str], *, env_dir: Path, log: Path,
              samples: list[tuple[float, float, float]] | None = None) -> dict:
    """Run `sparkvalue <args>` and return wall time and peak memory. `samples`, if given,
    receives (epoch seconds, driver MB, tree MB) of every sample: one process split into stages."""
    cmd = [str(REPO / ".venv" / "bin" / "sparkvalue"), *args, "--env", "bench",
           "--conf-dir", str(env_dir / "conf")]
    peak = {"jvm": 0.0, "tree": 0.0}
    samples = [] if samples is None else samples
    started = time.perf_counter()
    with log.open("w") as handle:
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT)
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                pids, frontier = [proc.pid], [proc.pid]
                while frontier:
                    kids = [k for p in frontier for k in _children(p)]
                    pids += kids
                    frontier = kids
                tree = sum(_pss_mb(p) for p in pids)
                jvm = sum(_rss_mb(p) for p in pids if _is_java(p))
                samples.append((time.time(), jvm, tree))
                peak["tree"] = max(peak["tree"], tree)
                peak["jvm"] = max(peak["jvm"], jvm)
                done.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"stage {name} failed with exit code {code}; see {log}")
    return {"stage": name, "seconds": round(seconds, 1), "peak_driver_mb": round(peak["jvm"]),
            "peak_tree_mb": round(peak["tree"])}


def prepare_env(work: Path, overrides: dict) -> Path:
    """A copy of conf/ plus `bench.yaml` (local settings with `overrides`) under `work`."""
    conf = work / "conf"
    if conf.exists():
        shutil.rmtree(conf)
    shutil.copytree(REPO / "conf", conf)
    local = _merged(yaml.safe_load((conf / "local.yaml").read_text()), overrides)
    (conf / "bench.yaml").write_text(yaml.safe_dump(local))
    return work


def _merged(base: dict, overrides: dict) -> dict:
    """`base` with `overrides` laid over it key by key, nested mappings merged (so
    `spark.conf` overrides add to local.yaml's Spark settings instead of replacing them)."""
    out = dict(base)
    for key, value in overrides.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) \
            else value
    return out


def machine() -> dict:
    mem = next(line for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text()
                .splitlines() if line.startswith("model name")), platform.processor())
    return {"cores": os.cpu_count(), "memory": mem.split(":", 1)[1].strip(), "cpu": cpu,
            "python": platform.python_version(), "os": platform.platform()}


def write_report(results: list[dict], out: Path, title: str, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    report = {"title": title, "command": command, "machine": machine(), "results": results}
    (out / "results.json").write_text(json.dumps(report, indent=2))
    lines = [f"# {title}", "", f"Command: `{command}`", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in report["machine"].items()), "",
             "| subscribers | stage | wall time (s) | peak driver RSS (MB) | peak process tree PSS (MB) "
             "| spill memory / disk (MB) | rows |", "|---:|---|---:|---:|---:|---:|---|"]
    for r in results:
        spilled = f"{r['spill_memory_mb']} / {r['spill_disk_mb']}" if "spill_memory_mb" in r else ""
        lines.append(f"| {r['subscribers']:,} | {r['stage']} | {r['seconds']} | "
                     f"{r['peak_driver_mb']} | {r['peak_tree_mb']} | {spilled} | {r.get('rows', '')} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")


def _reference_sql(month: str, usage: str, edges: str) -> dict[str, str]:
    """The usage windows and the circle aggregation of `month` in SQL that DuckDB and Spark
    both run; `usage` and `edges` are how each engine names the bronze Delta tables."""
    year, mon = map(int, month.split("-"))
    index = year * 12 + mon - 1
    return {"usage": f"""
        WITH u AS (
            SELECT subscriber_id, revenue, outgoing_min + incoming_min AS mou, data_mb,
                   CAST(substr(month, 1, 4) AS INT) * 12 + CAST(substr(month, 6, 2) AS INT) - 1 AS m
            FROM {usage} WHERE month <= '{month}')
        SELECT subscriber_id,
               avg(revenue) FILTER (WHERE m > {index} - 3) AS revenue_3m_avg,
               avg(revenue) FILTER (WHERE m > {index} - 6) AS revenue_6m_avg,
               avg(revenue) FILTER (WHERE m > {index} - 12) AS revenue_12m_avg,
               avg(mou) FILTER (WHERE m > {index} - 3) AS mou_3m_avg,
               avg(data_mb) FILTER (WHERE m > {index} - 3) AS data_3m_avg,
               max(revenue) FILTER (WHERE m = {index} - 12) AS revenue_ly,
               min(revenue) FILTER (WHERE m BETWEEN {index} - 3 AND {index} - 1) AS band_min,
               max(revenue) FILTER (WHERE m BETWEEN {index} - 3 AND {index} - 1) AS band_max,
               max(revenue) FILTER (WHERE m = {index}) AS revenue
        FROM u GROUP BY subscriber_id HAVING max(m) = {index}""",
            "circle": f"""
        SELECT caller_id, count(*) AS breadth, sum(minutes) AS depth, sum(calls) AS calls,
               avg(CASE WHEN callee_operator IN ('own', 'own_other_region') THEN 1 ELSE 0 END) AS onnet,
               avg(CASE WHEN callee_operator = 'competitor' THEN 1 ELSE 0 END) AS competitor
        FROM {edges} WHERE month = '{month}' GROUP BY caller_id"""}


def duckdb_reference(lakehouse: Path, month: str) -> dict[str, float]:
    """The usage windows and the circle aggregation of `month`, as DuckDB computes them."""
    from sparkvalue.lakehouse.readers import duckdb_connect

    con = duckdb_connect()
    con.execute("SET threads = 2")
    bronze = lakehouse / "bronze"
    out: dict[str, float] = {}
    for part, sql in _reference_sql(month, f"delta_scan('{bronze / 'usage_monthly'}')",
                                    f"delta_scan('{bronze / 'call_edges'}')").items():
        started = time.perf_counter()
        con.execute(f"CREATE TEMP TABLE {part} AS {sql}")
        out[part] = round(time.perf_counter() - started, 1)
        out[f"{part}_rows"] = con.execute(f"SELECT count(*) FROM {part}").fetchone()[0]
    return out


def spark_reference(work: Path, month: str) -> dict[str, float]:
    """The same SQL as `duckdb_reference` run by Spark (the benchmark's settings, a fresh
    session): what the engine alone takes for these aggregations, without sparkvalue's
    further features, checks and writes. Each query runs once untimed, as the monthly job's
    JVM is warm when it gets there (a cold first run at 200k took 25 s, warm 5 s), then
    once timed to a `noop` sink."""
    from sparkvalue.config import load_config
    from sparkvalue.session import build_session

    settings = load_config("bench", work / "conf")
    spark = build_session(settings, app_name="spark-reference")
    try:
        bronze = Path(settings.path("lakehouse")) / "bronze"
        out: dict[str, float] = {}
        for part, sql in _reference_sql(month, f"delta.`{bronze / 'usage_monthly'}`",
                                        f"delta.`{bronze / 'call_edges'}`").items():
            spark.sql(sql).write.format("noop").mode("overwrite").save()  # warm-up
            started = time.perf_counter()
            spark.sql(sql).write.format("noop").mode("overwrite").save()
            out[part] = round(time.perf_counter() - started, 1)
            out[f"{part}_rows"] = spark.sql(sql).count()
        return out
    finally:
        spark.stop()
