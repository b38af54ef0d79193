"""``musiclust``: the thin Hydra entry point. Composes, runs one experiment, returns the objective."""

from __future__ import annotations

import logging
import math
import sys
import traceback
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from musiclust.errors import ConfigError, MusiclustError
from musiclust.io import write_text
from musiclust.layout import ERROR_FILE, METRICS_FILE

log = logging.getLogger("musiclust")

CONFIG_DIR = str(Path(__file__).resolve().parents[1] / "conf")


def objective_name(cfg: DictConfig) -> str:
    """The metric named by ``objective`` (``auto``: nmi with a ``label_col``, else silhouette); a name the run
    does not produce stops it with one ConfigError listing the valid names."""
    from musiclust.clustering.metrics import resolve_objective

    return resolve_objective(cfg.get("objective"), labelled=bool(cfg.get("label_col")))


def objective_of(cfg: DictConfig, metrics: dict) -> float:
    """The value a sweeper optimises: the metric named by ``objective`` (NaN when the run could not compute it)."""
    value = metrics.get(objective_name(cfg), float("nan"))
    return float(value) if value is not None else float("nan")


def _is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _in_worker_processes() -> bool:
    """Launchers that run jobs in pooled worker processes, where DataLoader workers cannot be started."""
    return HydraConfig.initialized() and "joblib" in str(HydraConfig.get().launcher.get("_target_", ""))


def run_and_report(cfg: DictConfig) -> float:
    """Run one experiment. User errors end a single run with one message (exit 2); in a sweep every
    failure is written to the job's ``error.txt`` and the sweep goes on, so finished jobs are kept.
    With ``resume=true`` a job whose dir holds finished results of the same config returns them unchanged.
    """
    from musiclust.sweep import config_fingerprint, record_fingerprint, stored_metrics

    run_dir = Path(cfg.paths.output_dir)
    try:
        objective_name(cfg)  # a misspelt objective fails before any work
        fingerprint = config_fingerprint(cfg)
        if cfg.get("resume") and (stored := stored_metrics(run_dir, fingerprint)) is not None:
            log.info("resume=true: %s already finished; keeping its results", run_dir)
            return objective_of(cfg, stored)
        if not cfg.get("resume") and not cfg.get("overwrite") and (run_dir / METRICS_FILE).exists():
            raise ConfigError(
                f"{run_dir} already holds the results of a finished run. Add resume=true to keep finished jobs, "
                "overwrite=true to recompute them, or choose another hydra.sweep.dir / hydra.run.dir."
            )
        (run_dir / ERROR_FILE).unlink(missing_ok=True)  # an error from an earlier attempt no longer applies
        if _in_worker_processes() and cfg.get("num_workers"):
            log.info("num_workers=%s → 0: the joblib launcher's workers cannot start DataLoader workers",
                     cfg.num_workers)
            cfg = cfg.copy()
            cfg.num_workers = 0
        from musiclust.pipeline import run_experiment

        result = run_experiment(cfg)
        record_fingerprint(run_dir, fingerprint)
    except Exception as err:
        user_error = isinstance(err, MusiclustError)
        detail = str(err) if user_error else "".join(traceback.format_exception(err))
        if _is_multirun():
            write_text(f"{type(err).__name__}: {detail}\n", run_dir / ERROR_FILE)
            log.error("Job failed: %s (details in %s)", err, run_dir / ERROR_FILE)
            return float("nan")
        if user_error:
            log.error("musiclust: error: %s", err)
            sys.exit(2)
        raise
    value = objective_of(cfg, result.metrics)
    shown = ", ".join(
        f"{key}={result.metrics[key]:.3f}" for key in ("nmi", "ari", "purity", "silhouette")
        if key in result.metrics and isinstance(result.metrics[key], float) and not math.isnan(result.metrics[key])
    )
    log.info("Done: %s | %s", shown, result.run_dir)
    print(f"Results in {result.run_dir}  ({shown})")
    return value


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def main(cfg: DictConfig) -> float:
    return run_and_report(cfg)


if __name__ == "__main__":
    main()
