"""MLflow: where runs go, registered model names, the `champion` alias.

The tracking URI comes from `paths.mlflow_tracking_uri` (SQLite by default; a
relative `sqlite:///` path is taken from the project root), artifacts go under
`paths.mlflow_artifacts` unless the URI is a tracking server, which then decides.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sparkvalue.config import SQLITE, Settings, resolve_path

log = logging.getLogger("sparkvalue")

CHAMPION = "champion"


class NoChampionError(LookupError):
    """A registered model has no `champion` version yet: train first."""


def store_uri(uri: str, root: str) -> str:
    """A relative `sqlite:///` path taken from the project root (its folder created)."""
    if not uri.startswith(SQLITE):
        return uri  # a server (http://...) or another store, as configured
    resolved = resolve_path(uri, root)
    if resolved != uri:
        Path(resolved[len(SQLITE):]).parent.mkdir(parents=True, exist_ok=True)
    return resolved


def tracking_uri(settings: Settings) -> str:
    return store_uri(settings.paths.mlflow_tracking_uri, settings.root)


def configure(settings: Settings) -> MlflowClient:
    """Point MLflow at this environment's store; quiet its per-call logging."""
    uri = tracking_uri(settings)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    if settings.paths.shared_tmp:  # executors save Spark models there, the driver reads them back
        os.environ["MLFLOW_DFS_TMP"] = settings.path("shared_tmp")
    logging.getLogger("mlflow").setLevel(logging.WARNING)
    return MlflowClient(uri, uri)


def model_name(settings: Settings, kind: str) -> str:
    """Experiment and registered model name of a model kind (stickiness, anomaly, value)."""
    return f"{settings.models.name_prefix}-{kind}"


def experiment(settings: Settings, kind: str) -> str:
    """Create the kind's experiment once (artifacts under paths.mlflow_artifacts); its id."""
    name = model_name(settings, kind)
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    location = None
    if tracking_uri(settings).startswith("sqlite:"):
        folder = Path(settings.path("mlflow_artifacts")) / name
        folder.mkdir(parents=True, exist_ok=True)
        location = folder.as_uri()
    return mlflow.create_experiment(name, artifact_location=location)


@dataclass(frozen=True)
class Champion:
    name: str
    version: int
    run_id: str
    uri: str


def champion(client: MlflowClient, name: str) -> Champion | None:
    try:
        mv = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return Champion(name, int(mv.version), mv.run_id, f"models:/{name}@{CHAMPION}")


def require_champion(client: MlflowClient, name: str) -> Champion:
    found = champion(client, name)
    if found is None:
        raise NoChampionError(f"registered model {name!r} has no '{CHAMPION}' version; "
                              "run `sparkvalue train` first")
    return found


def log_spark_model(model, artifact_path: str, registered_model_name: str | None = None):
    """Log a Spark ML model to the active run (and register it when a name is given).

    The requirements are stated (pyspark of this release): left out, MLflow infers them by
    loading the model again in a new Python process with a Spark session of its own, which
    costs a JVM start per logged model."""
    import mlflow.spark

    return mlflow.spark.log_model(model, artifact_path, registered_model_name=registered_model_name,
                                  pip_requirements=mlflow.spark.get_default_pip_requirements())


def log_json(data: object, artifact_path: str) -> None:
    """Log a JSON document as an artifact of the active run."""
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / Path(artifact_path).name
        file.write_text(json.dumps(data, indent=2, ensure_ascii=False))
        mlflow.log_artifact(str(file), str(Path(artifact_path).parent) if "/" in artifact_path else None)


def load_json(run_id: str, artifact_path: str) -> object:
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path,
                                                    dst_path=tmp)
        return json.loads(Path(local).read_text())
