"""The run in its loggers: its settings (and the model's hyperparameters) as params for every logger, and for
MLflow the run dir's tables and plots as artifacts, so that MLflow's UI shows and compares what run dirs hold."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from musiclust.layout import CHECKPOINT_DIR, HYDRA_DIR, LOGGER_DIRS
from musiclust.outputs.result import OutputStep, RunResult

log = logging.getLogger(__name__)


def _dotted(prefix: str, values: Mapping[str, Any]) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}.{key}"
        flat.update(_dotted(name, value) if isinstance(value, Mapping) else {name: value})
    return flat


def run_params(result: RunResult) -> dict[str, Any]:
    """What a logger records as the run's params: the settings comparisons show (``model``, ``feature``, ``k``...),
    then the model's hyperparameters as ``model.<name>`` (dotted: MLflow's file store makes a folder of a ``/``)."""
    return {**result.settings, **_dotted("model", dict(getattr(result.model, "hparams", None) or {}))}


def artifact_files(run_dir: Path, suffixes: Sequence[str]) -> list[Path]:
    """The run dir's files with these suffixes (not the loggers' own files or checkpoints), and ``.hydra/``."""
    skipped = {*LOGGER_DIRS, CHECKPOINT_DIR, HYDRA_DIR}
    files = [path for path in sorted(run_dir.rglob("*")) if path.is_file() and path.suffix in suffixes
             and path.relative_to(run_dir).parts[0] not in skipped]
    return files + sorted((run_dir / HYDRA_DIR).glob("*.yaml"))


class LoggedRun(OutputStep):
    """Every logger gets the run's params; an MLflow logger also gets ``artifacts`` (file suffixes) from the run
    dir, the run dir's name as its run name and the run dir as a tag. Listed after the steps that write files."""

    def __init__(self, artifacts: Sequence[str] = (".csv", ".png")) -> None:
        self.artifacts = tuple(artifacts)

    def write(self, result: RunResult) -> None:
        if not result.loggers:
            return
        from pytorch_lightning.loggers import MLFlowLogger

        params = run_params(result)
        for logger in result.loggers:
            logger.log_hyperparams(params)
            logger.save()
            if isinstance(logger, MLFlowLogger):
                self._to_mlflow(logger, result)

    def _to_mlflow(self, logger: Any, result: RunResult) -> None:
        client, run_id, run_dir = logger.experiment, logger.run_id, result.run_dir
        client.set_tag(run_id, "mlflow.runName", f"{run_dir.parent.name}/{run_dir.name}")
        client.set_tag(run_id, "run_dir", str(run_dir))
        files = artifact_files(run_dir, self.artifacts)
        for path in files:
            folder = path.relative_to(run_dir).parent
            client.log_artifact(run_id, str(path), artifact_path=None if folder == Path(".") else folder.as_posix())
        log.info("MLflow run %s: %d artifacts from %s", run_id, len(files), run_dir)
