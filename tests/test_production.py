"""Production: a real standalone cluster, the JDBC server, other Delta readers, a live MLflow
server, the notebooks, and a scan for raw subscriber numbers. Every server is started here
on loopback and stopped at the end."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pyspark
import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql.types import TimestampType

from sparkvalue import pipeline
from sparkvalue.cli import main
from sparkvalue.cluster import build_zip, write_conf_dir
from sparkvalue.config import Settings
from sparkvalue.lakehouse import tables as lh
from sparkvalue.session import delta_jars
from tests.helpers import rounded

SPARK_BIN = Path(pyspark.__file__).parent / "bin"
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, timeout: float = 120.0, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {process.returncode}")
        try:
            found = check()
        except OSError:
            found = None
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"{what}: not ready after {timeout:.0f}s")


def get_json(url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def stop(processes: list[subprocess.Popen]) -> None:
    for p in processes:
        p.terminate()
    for p in processes:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def child_pids(pid: int) -> list[int]:
    """The processes `pid` started (from /proc, whichever of its threads started them)."""
    tasks = Path(f"/proc/{pid}/task")
    return [int(c) for t in tasks.iterdir() for c in (t / "children").read_text().split()]


def listening_addresses(port: int) -> set[str]:
    """The local addresses a TCP port listens on (from `ss`)."""
    lines = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout.splitlines()
    return {local.rsplit(":", 1)[0] for local in (line.split()[3] for line in lines if line.split())
            if local.rsplit(":", 1)[1] == str(port)}


LOOPBACK = {"127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"}


def loopback_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable, **extra}


# The JVMs this module starts besides the test session's (master, workers, executors, the JDBC
# server, beeline, the notebooks' kernel) live minutes on a few thousand rows: the JIT's first
# tier is enough, and the second tier's compiler threads would take CPU from the other tests on
# the suite's two cores. The cluster jobs' drivers keep it: they plan ~1,100 small Spark jobs
# one after the other, and the suite waits for the monthly one. Measured on that job alone:
# 269 s and 480 CPU-seconds by default, 266 s and 383 with every JVM on the first tier, 205 s
# and 342 with the executors only. Every JVM here uses the throughput collector, as
# conf/local.yaml does for the test session's. Production JVMs keep the JIT's default.
PARALLEL_GC = "-XX:+UseParallelGC"
QUICK_JIT = f"-XX:TieredStopAtLevel=1 {PARALLEL_GC}"
# The Spark settings of the local-mode side JVMs: the JDBC server and the notebooks' kernel.
SIDE_SPARK = {"driver_memory": "1g", "conf": {"spark.driver.extraJavaOptions": QUICK_JIT}}


def gold_tables(lakehouse: str) -> list[str]:
    return [name for name, doc in lh.GOLD.items()
            if (Path(lh.table_path(lakehouse, doc)) / "_delta_log").is_dir()]


def existing_tables(lakehouse: str) -> list[str]:
    return [name for name, doc in lh.CATALOG.items()
            if (Path(lh.table_path(lakehouse, doc)) / "_delta_log").is_dir()]


# ------------------------------------------------------------------ the local-mode reference run

@pytest.fixture(scope="module")
def local_run(spark, recommended):
    """The models chain of the session (local[2]), completed: marketing and the closed loop of the
    latest month."""
    settings, months, _ = recommended
    kpis = Path(lh.table_path(settings.path("lakehouse"), lh.GOLD["kpis"]))
    if not ((kpis / "_delta_log").is_dir()
            and lh.read_table(spark, settings.path("lakehouse"), "gold.kpis")
            .where(F.col("month") == months[-1]).take(1)):  # not done by test_models
        pipeline.evaluate(spark, settings, months[-1:])
    return settings, months


# ------------------------------------------------------------------ standalone cluster

@pytest.fixture(scope="session")  # the cluster fixtures start early: conftest.py
def standalone(tmp_path_factory):
    """A Spark standalone master and two workers from the installed pyspark. Two cores each: the
    monthly job (2 cores, one on every worker) and the training job (1 core) run side by side."""
    root = tmp_path_factory.mktemp("standalone")
    port, ui = free_port(), free_port()
    spark_class = str(SPARK_BIN / "spark-class")
    env = loopback_env(SPARK_NO_DAEMONIZE="1", SPARK_DAEMON_JAVA_OPTS=QUICK_JIT)
    logs = []

    def start(name: str, *args: str) -> subprocess.Popen:
        log = open(root / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        logs.append(log)
        return subprocess.Popen([spark_class, *args], stdout=log, stderr=subprocess.STDOUT, env=env)

    processes = [start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                       "--port", str(port), "--webui-port", str(ui))]
    url = f"spark://127.0.0.1:{port}"
    try:
        wait_for(lambda: get_json(f"http://127.0.0.1:{ui}/json/"), "standalone master", process=processes[0])
        for i in (1, 2):
            processes.append(start(f"worker{i}", "org.apache.spark.deploy.worker.Worker", url,
                                   "--host", "127.0.0.1", "--cores", "2", "--memory", "2g",
                                   "--webui-port", str(free_port()), "--work-dir", str(root / f"work{i}")))
        wait_for(lambda: get_json(f"http://127.0.0.1:{ui}/json/")["aliveworkers"] == 2,
                 "two workers registered")
        yield url, root, ui
    finally:
        stop(processes)
        for log in logs:
            log.close()


def month_tables(spark, lakehouse: str) -> list[str]:
    """The month-keyed tables of `lakehouse` (not the run log)."""
    return [name for name in existing_tables(lakehouse) if name != "ops.ingest_runs"
            and "month" in lh.read_table(spark, lakehouse, name).columns]


def _without_month(spark, lakehouse: str, month: str) -> list[str]:
    """Delete `month` from every month-keyed table of `lakehouse`; their names."""
    from delta.tables import DeltaTable

    emptied = month_tables(spark, lakehouse)
    for name in emptied:
        DeltaTable.forPath(spark, lh.table_path(lakehouse, lh.CATALOG[name])).delete(F.col("month") == month)
    return emptied


@dataclass
class ClusterJob:
    remote: Settings
    months: list[str]
    root: Path
    cluster_root: Path
    emptied: list[str]
    process: subprocess.Popen
    started: float
    log: Path

    def wait(self) -> ClusterJob:
        """Wait for the job (it runs while the other tests of this module do); it succeeded."""
        code = self.process.wait(timeout=1500)
        assert code == 0, self.log.read_text()[-4000:]
        print(f"{self.log.name}: {time.monotonic() - self.started:.0f}s")
        return self


@pytest.fixture(scope="session")
def shipped(base_settings, tmp_path_factory) -> tuple[Path, list[str]]:
    """What spark-submit ships: the package as a zip and the Delta jars."""
    zip_path = build_zip(tmp_path_factory.mktemp("shipped") / "sparkvalue.zip")
    return zip_path, delta_jars(base_settings.spark.jars_dir, base_settings.root)


def submit(url: str, shipped: tuple[Path, list[str]], cwd: Path, job: str, *args: str,
           log: Path, cores: int = 2) -> subprocess.Popen:
    """spark-submit `jobs/<job>` to the standalone cluster as in production: the package as a zip
    with --py-files, the Delta jars with --jars, run from `cwd` (nothing may depend on the
    checkout being the working directory), on `cores` executor cores (one executor per core,
    spread over the workers); its output goes to `log`."""
    zip_path, jars = shipped
    command = [str(SPARK_BIN / "spark-submit"), "--master", url, "--deploy-mode", "client",
               "--py-files", str(zip_path), "--jars", ",".join(jars),
               "--driver-memory", "2g", "--executor-memory", "1g", "--total-executor-cores", str(cores),
               "--driver-java-options", PARALLEL_GC, "--conf", f"spark.executor.extraJavaOptions={QUICK_JIT}",
               "--conf", f"spark.pyspark.python={sys.executable}", str(REPO / "jobs" / job), *args]
    with open(log, "w") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=loopback_env(), cwd=cwd)


@pytest.fixture(scope="session")
def cluster_job(spark, standalone, scored, shipped, tmp_path_factory):
    """The monthly job of the latest month, submitted with spark-submit to the standalone cluster,
    as in production: on a lakehouse holding the months before (a copy of the models chain's
    once it has scored, the latest month deleted from every table), with the same landing data,
    configuration and champion models as the local run. The job runs in the background;
    `ClusterJob.wait()` waits for it. (Marketing and the closed loop of month M read gold tables
    of month M only, so the tables they write need not be in the copy: the job creates them.)"""
    url, cluster_root, _ = standalone
    settings, months, *_ = scored
    root = tmp_path_factory.mktemp("cluster-run")
    shutil.copytree(settings.path("lakehouse"), root / "lakehouse")
    remote = settings.with_overrides({
        "paths": {"lakehouse": str(root / "lakehouse"), "checkpoints": str(root / "checkpoints")},
        "spark": {"master": None, "jars_dir": None},
    })
    emptied = _without_month(spark, remote.path("lakehouse"), months[-1])
    conf_dir = write_conf_dir(remote, root / "conf", "cluster-test")
    process = submit(url, shipped, root, "run.py", "--env", "cluster-test", "--conf-dir", str(conf_dir),
                     "--month", months[-1], log=root / "driver.log")
    yield ClusterJob(remote, months, root, cluster_root, emptied, process, time.monotonic(),
                     root / "driver.log")
    if process.poll() is None:
        process.kill()


@pytest.fixture(scope="module")
def cluster_run(cluster_job) -> ClusterJob:
    return cluster_job.wait()


@dataclass
class Tracking:
    base: str
    root: Path
    job: ClusterJob


@pytest.fixture(scope="session")
def cluster_training(standalone, models_lake, shipped, tmp_path_factory):
    """A live MLflow tracking server (`sparkvalue serve-mlflow`, SQLite backend, its own artifact
    root) and the training job submitted to the cluster, logging to it. It trains on a copy of
    the models chain's lakehouse (its silver tables) and runs beside the chain."""
    url, cluster_root, _ = standalone
    settings, months = models_lake
    root = tmp_path_factory.mktemp("cluster-training")
    shutil.copytree(settings.path("lakehouse"), root / "lakehouse")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    served = settings.with_overrides({
        "serving": {"mlflow_port": port, "mlflow_backend_store": f"sqlite:///{root / 'server.db'}"},
        "paths": {"lakehouse": str(root / "lakehouse"), "checkpoints": str(root / "checkpoints"),
                  "mlflow_artifacts": str(root / "served-artifacts"), "mlflow_tracking_uri": base},
        "spark": {"master": None, "jars_dir": None}})
    conf_dir = write_conf_dir(served, root / "conf", "tracking")
    log = open(root / "mlflow.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen([sys.executable, "-m", "sparkvalue.cli", "serve-mlflow", "--env", "tracking",
                               "--conf-dir", str(conf_dir)], stdout=log, stderr=subprocess.STDOUT,
                              env=loopback_env(), cwd=root, start_new_session=True)
    process = None
    try:
        wait_for(lambda: urllib.request.urlopen(f"{base}/health", timeout=5).status == 200, "mlflow server",
                 process=server)
        assert listening_addresses(port) and listening_addresses(port) <= LOOPBACK
        process = submit(url, shipped, root, "train.py", "--env", "tracking", "--conf-dir", str(conf_dir),
                         "--model", "stickiness", log=root / "train-driver.log",
                         cores=1)  # one executor JVM less on the two cores the suite has
        job = ClusterJob(served, months, root, cluster_root, [], process, time.monotonic(),
                         root / "train-driver.log")
        yield Tracking(base, root, job)
    finally:
        if process is not None and process.poll() is None:
            process.kill()
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        log.close()


def _registered(ui: int, app_name: str) -> dict:
    """The master's state once `app_name` is among its active applications."""
    return wait_for(lambda: (lambda s: s if app_name in {a["name"] for a in s["activeapps"]} else None)(
        get_json(f"http://127.0.0.1:{ui}/json/")), f"{app_name} registered", timeout=180)


# The cluster jobs start early and run in their own processes beside the models chain (conftest.py
# moves the next two tests): the training job once the chain has its silver tables, the monthly
# job once it has scored (its lakehouse copy needs the gold tables of the months before).

def test_the_cluster_has_two_workers_and_takes_the_training_job(standalone, cluster_training):
    _, _, ui = standalone
    state = _registered(ui, "sparkvalue-train")
    assert [w["state"] for w in state["workers"]] == ["ALIVE", "ALIVE"]


def test_the_cluster_takes_the_monthly_job(standalone, cluster_job):
    _, _, ui = standalone
    apps = _registered(ui, "sparkvalue-ingest")["activeapps"]
    (app,) = [a for a in apps if a["name"] == "sparkvalue-ingest"]
    assert app["state"] == "RUNNING"


# ------------------------------------------------------------------ BI over JDBC

def test_serve_sql_lists_every_table_with_comments_and_answers_queries_over_jdbc(spark, local_run, tmp_path):
    settings, months = local_run
    port = free_port()
    served = settings.with_overrides({"serving": {"sql_port": port, "metastore": str(tmp_path / "metastore")},
                                      "spark": SIDE_SPARK})
    conf_dir = write_conf_dir(served, tmp_path / "conf", "bi")
    log = open(tmp_path / "serve-sql.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen([sys.executable, "-m", "sparkvalue.cli", "serve-sql", "--env", "bi",
                               "--conf-dir", str(conf_dir)], stdout=log, stderr=subprocess.STDOUT,
                              env=loopback_env(), cwd=tmp_path)
    try:
        wait_for(lambda: "serving" in (tmp_path / "serve-sql.log").read_text(), "serve-sql", timeout=300,
                 process=server)
        assert listening_addresses(port) and listening_addresses(port) <= LOOPBACK

        def beeline(*statements: str) -> list[list[list[str]]]:
            """The rows of each statement, from one beeline session (one JVM start)."""
            marked = "; ".join(f"{sql}; SELECT '#', '{i}'" for i, sql in enumerate(statements))
            done = subprocess.run([str(SPARK_BIN / "beeline"), "-u", f"jdbc:hive2://127.0.0.1:{port}/gold",
                                   "-n", "analyst", "--silent=true", "--showHeader=false",
                                   "--outputformat=tsv2", "-e", marked],
                                  capture_output=True, text=True, timeout=300,
                                  env=loopback_env(SPARK_BEELINE_OPTS=QUICK_JIT))
            assert done.returncode == 0, done.stderr[-2000:]
            # statements after the first echo beeline's prompt in front of their first row
            lines = [re.sub(r"^\d+: jdbc:hive2://\S+> ", "", line) for line in done.stdout.splitlines()]
            rows = [[field.strip("\x00 ") for field in line.split("\t")] for line in lines]
            results: list[list[list[str]]] = [[]]
            for row in rows:
                if row == ["#", str(len(results) - 1)]:
                    results.append([])
                elif len(row) > 1:
                    results[-1].append(row)
            assert len(results) == len(statements) + 1 and not results[-1], done.stdout[-2000:]
            return results[:-1]

        listed, tiers, described, detail = beeline(
            "SHOW TABLES IN bronze; SHOW TABLES IN silver; SHOW TABLES IN gold; SHOW TABLES IN ops",
            f"SELECT value_tier, count(*) FROM value WHERE month = '{months[-1]}' GROUP BY value_tier",
            "DESCRIBE gold.recommendations", "DESCRIBE TABLE EXTENDED gold.recommendations")
        tables = {(db, t) for db, t, *_ in listed}
        expected = {tuple(name.split(".")) for name in existing_tables(settings.path("lakehouse"))}
        assert tables == expected and ("gold", "recommendations") in tables
        value = lh.read_table(spark, settings.path("lakehouse"), "gold.value") \
            .where(F.col("month") == months[-1])
        assert {k: int(v) for k, v in tiers} == {
            r["value_tier"]: r["count"] for r in value.groupBy("value_tier").count().collect()}
        columns = {row[0]: row[2] for row in described}
        assert columns["subscriber_id"] == "pseudonymised subscriber number"
        assert all(columns[c] not in ("", "NULL") for c in ("offer_code", "month"))
        assert ["Comment", lh.GOLD["recommendations"].description] == \
            next(row[:2] for row in detail if row[0] == "Comment")
        # its Spark driver killed (or out of memory), the server ends too, saying why: a
        # supervisor sees it down and restarts it
        (driver,) = child_pids(server.pid)
        os.kill(driver, signal.SIGKILL)
        assert server.wait(timeout=60) == 1
        assert "ServingError: the Spark driver serving jdbc:hive2://127.0.0.1:" in \
            (tmp_path / "serve-sql.log").read_text()
    finally:
        stop([server])
        log.close()


# ------------------------------------------------------------------ other Delta readers

def test_deltalake_and_duckdb_read_every_table_with_the_counts_of_spark(spark, local_run):
    import duckdb
    from deltalake import DeltaTable

    from sparkvalue.lakehouse.readers import duckdb_connect

    settings, _ = local_run
    lakehouse = settings.path("lakehouse")
    names = existing_tables(lakehouse)
    assert len(names) == len(lh.CATALOG)
    con = duckdb_connect()
    for name in names:
        path = lh.table_path(lakehouse, lh.CATALOG[name])
        count = lh.read_table(spark, lakehouse, name).count()
        assert DeltaTable(path).to_pyarrow_table().num_rows == count, name
        assert con.execute(f"SELECT count(*) FROM delta_scan('{path}')").fetchone()[0] == count, name
    assert isinstance(con, duckdb.DuckDBPyConnection)


# ------------------------------------------------------------------ notebooks

@pytest.fixture(scope="module")
def notebook_kernel(local_run, tmp_path_factory):
    """One Python kernel for the notebooks, as an analyst keeps one open: its Spark session starts
    once. Configured like an analyst's machine: $SPARKVALUE_CONF_DIR names the configuration."""
    from jupyter_client.manager import KernelManager

    settings, _ = local_run
    root = tmp_path_factory.mktemp("notebooks")
    analyst = settings.with_overrides({"spark": SIDE_SPARK})
    conf_dir = write_conf_dir(analyst, root / "conf", "local")
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(root), env={**os.environ, "SPARKVALUE_CONF_DIR": str(conf_dir)})
    yield km
    km.shutdown_kernel(now=True)


@pytest.mark.parametrize("notebook", sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb")))
def test_notebook_runs_top_to_bottom_on_the_demo_data(notebook_kernel, notebook):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(REPO / "notebooks" / notebook, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    # a clean namespace: nothing a notebook run before left behind is visible to this one
    nb.cells.insert(0, nbformat.v4.new_code_cell('get_ipython().run_line_magic("reset", "-f")'))
    NotebookClient(nb, km=notebook_kernel, timeout=600).execute()
    outputs = [o for cell in code_cells for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert len([o for o in outputs if o.get("output_type") in ("stream", "execute_result", "display_data")]) \
        >= len(code_cells) - 1


# ------------------------------------------------------------------ the cluster job's results

def test_the_monthly_job_on_a_standalone_cluster_writes_what_local_mode_writes(spark, local_run, cluster_run):
    settings, months = local_run
    remote, cluster_root = cluster_run.remote, cluster_run.cluster_root
    written = month_tables(spark, remote.path("lakehouse"))  # those the copy held and those the job created
    assert set(cluster_run.emptied) <= set(written)
    month = months[-1]
    # the executors of both workers ran tasks of the application
    stderr_files = list(cluster_root.glob("work*/app-*/*/stderr"))
    assert {p.parts[-4] for p in stderr_files} == {"work1", "work2"}
    # every table of the month: bronze, silver and all gold tables that the monthly job writes
    assert {n for n in written if n.startswith("gold.")} == {
        f"gold.{n}" for n in lh.GOLD if n not in ("model_rules", "model_lift")}
    assert len([n for n in written if n.startswith(("bronze.", "silver."))]) >= 10
    # the churned contacts' leaders of the month before came from the silver table the copy holds,
    # not from computing that month's graph again; silver.graph_features is compared below
    driver_log = cluster_run.log.read_text()
    assert f"graph: the community roles of {months[-2]} from silver.graph_features" in driver_log
    filled = 0
    for name in written:
        here = lh.read_table(spark, settings.path("lakehouse"), name).where(F.col("month") == month)
        there = lh.read_table(spark, remote.path("lakehouse"), name).where(F.col("month") == month)
        stamps = [f.name for f in here.schema.fields if isinstance(f.dataType, TimestampType)]
        here, there = rounded(here.drop(*stamps), 6), rounded(there.drop(*stamps), 6)
        filled += bool(here.take(1))
        assert_df_equality(there, here, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True,
                           allow_nan_equality=True, underline_cells=True)
    assert filled >= len(written) - 4  # the test data has no corporate groups and no quarantine


# ------------------------------------------------------------------ training on the cluster, MLflow server

def test_training_on_the_cluster_logs_to_a_live_mlflow_server(trained, cluster_training):
    """The train job submitted to the cluster logs to a tracking server; the run, its metrics and
    the registered model are listed over the server's REST API, and the tree is the one local
    mode trained on the same silver tables."""
    local = {r.kind: r for r in trained[1].results}["stickiness"]
    base, root = cluster_training.base, cluster_training.root
    cluster_training.job.wait()
    experiments = get_json(f"{base}/api/2.0/mlflow/experiments/search", {"max_results": 100})
    ids = {e["name"]: e["experiment_id"] for e in experiments["experiments"]}
    (run,) = get_json(f"{base}/api/2.0/mlflow/runs/search",
                      {"experiment_ids": [ids["sparkvalue-stickiness"]]})["runs"]
    metrics = {m["key"]: m["value"] for m in run["data"]["metrics"]}
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert metrics["heldout_auc"] == pytest.approx(local.metrics.auc, abs=1e-9)
    assert int(params["leaves"]) == len(local.leaves)
    models = get_json(f"{base}/api/2.0/mlflow/registered-models/search")["registered_models"]
    assert "sparkvalue-stickiness" in {m["name"] for m in models}
    # the artifacts went through the server into its artifact root
    assert any((root / "served-artifacts").rglob("MLmodel"))


# ------------------------------------------------------------------ data protection

def _raw_numbers(spark, settings) -> set[str]:
    """Every subscriber number of the landing extracts (the personal data to look for)."""
    landing = settings.path("landing")
    read = spark.read.option("header", True)
    subscribers = read.csv(f"{landing}/subscribers").select(F.col("subscriber_id").alias("n"))
    edges = read.csv(f"{landing}/call_edges")
    numbers = subscribers.union(edges.select("caller_id")).union(edges.select("callee_id"))
    return {r["n"] for r in numbers.where(F.col("n").isNotNull()).distinct().collect()}


def _digit_runs(text: str) -> set[str]:
    return set(re.findall(r"\d+", text))


def test_no_raw_subscriber_number_in_any_table_log_or_error(spark, local_run, cluster_run, cluster_training,
                                                             capsys):
    remote, months, root, cluster_root = cluster_run.remote, cluster_run.months, cluster_run.root, \
        cluster_run.cluster_root
    raw = _raw_numbers(spark, remote)
    assert len(raw) > 2000 and all(re.fullmatch(r"\d{11,12}", n) for n in raw)  # mobile and fixed lines
    raw_df = spark.createDataFrame([(n,) for n in raw], "token string")
    lakehouse = remote.path("lakehouse")
    names = existing_tables(lakehouse)
    assert len(names) >= len(lh.GOLD) + len(lh.SILVER) + len(lh.BRONZE)
    for name in names:
        df = lh.read_table(spark, lakehouse, name)
        text = F.to_json(F.struct(*df.columns))
        tokens = df.select(F.explode(F.regexp_extract_all(text, F.lit(r"(\d+)"), 1)).alias("token"))
        leaked = tokens.join(F.broadcast(raw_df), "token").count()
        assert leaked == 0, f"{name}: {leaked} raw subscriber numbers"
    # logs of the whole run: driver, master, workers and every executor
    logs = [root / "driver.log", cluster_training.job.wait().log, *cluster_root.glob("*.log"),
            *cluster_root.glob("work*/app-*/*/std*")]
    assert len(logs) >= 11  # 2 drivers, the master, 2 workers, stdout and stderr of 3 executors
    for log in logs:
        assert not (_digit_runs(log.read_text(errors="replace")) & raw), f"raw number in {log}"
    # the front-line card of a real number and the error for an unknown one show no number
    landing = remote.path("landing")
    known = spark.read.option("header", True).csv(f"{landing}/subscribers/extract={months[-1]}") \
        .agg(F.min("subscriber_id")).first()[0]
    here = write_conf_dir(remote.with_overrides({"spark": {"master": "local[1]",
                                                          "jars_dir": local_run[0].spark.jars_dir}}),
                          root / "conf-card", "card")
    for number, code in ((known, 0), ("19999999999", 1)):
        assert main(["card", number, "--env", "card", "--conf-dir", str(here)]) == code
        shown = capsys.readouterr()
        assert ("UnknownSubscriberError" in shown.err) == (code == 1)
        assert "(pseudonym)" in shown.out or code == 1
        assert not (_digit_runs(shown.out + shown.err) & raw)
