"""A job's life in its run dir: refused when the dir holds a finished run, kept on ``resume=true``, otherwise the
dir's old outputs are cleared, the config and the log are written, the experiment runs, and the completion
marker is written last. User errors end a single run with one message (exit 2); a sweep records them per job."""

from __future__ import annotations

import logging
import math
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from musiclust.clustering.objectives import resolve_objective
from musiclust.config import is_debug_run, validate
from musiclust.errors import ConfigError, MusiclustError
from musiclust.io import write_text
from musiclust.layout import (
    ERROR_FILE,
    HYDRA_DIR,
    RUN_LOG_FILE,
    clear_outputs,
    is_rank_zero,
    read_marker,
    write_marker,
)
from musiclust.outputs import RunResult
from musiclust.pipeline import run_experiment
from musiclust.sweep import config_fingerprint, finished_metrics, note_job

log = logging.getLogger("musiclust")


def objective_name(cfg: DictConfig) -> str:
    """The metric named by ``objective`` (``auto``: nmi with a ``label_col``, else silhouette); a name the run
    does not produce stops it with one ConfigError listing the valid names."""
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


def check_strategy(cfg: DictConfig) -> None:
    """Refuse a training strategy that re-launches the command (Lightning's ``ddp``) inside an in-process sweep:
    the re-launched command would be the whole sweep, not this job."""
    trainer = cfg.get("trainer") or {}
    strategy = str(trainer.get("strategy") or "")
    relaunches = strategy.startswith(("ddp", "fsdp", "deepspeed")) and not strategy.startswith(
        ("ddp_spawn", "ddp_fork", "ddp_notebook"))
    several = trainer.get("devices") not in (1, "1", None) or (trainer.get("num_nodes") or 1) > 1
    launcher = str(HydraConfig.get().launcher.get("_target_", "")) if _is_multirun() else ""
    if relaunches and several and ("basic_launcher" in launcher or "joblib" in launcher):
        raise ConfigError(
            f"trainer.strategy={strategy} starts its extra training processes by re-running the command, which in "
            "a sweep would re-run the whole sweep. Run each configuration as its own command (musiclust "
            "trainer=ddp ...), or train this sweep in one process per job (trainer=default).")


def check_run_dir(cfg: DictConfig, run_dir: Path, fingerprint: str) -> dict | None:
    """Decide, before anything in ``run_dir`` is touched, whether this run may go on.

    Returns the stored metrics of a finished run that ``resume=true`` keeps, None when the run is to be
    (re)computed; raises :class:`ConfigError` when the dir holds a finished run that must not be touched.
    """
    if cfg.get("overwrite") or read_marker(run_dir) is None:
        return None
    if not cfg.get("resume"):
        raise ConfigError(
            f"{run_dir} already holds the results of a finished run; nothing was changed. Add resume=true to keep "
            "finished jobs, overwrite=true to recompute them, or choose another hydra.sweep.dir / hydra.run.dir."
        )
    return finished_metrics(run_dir, fingerprint)


def write_job_config(cfg: DictConfig, run_dir: Path) -> None:
    """``.hydra/{config,hydra,overrides}.yaml``, as Hydra writes them (Hydra is told not to: ``output_subdir:
    null``), so a run dir stays self-describing; written only once the run is known to be (re)computed."""
    hydra_dir = run_dir / HYDRA_DIR
    write_text(OmegaConf.to_yaml(cfg), hydra_dir / "config.yaml")
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        write_text(OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra_cfg})), hydra_dir / "hydra.yaml")
        write_text(OmegaConf.to_yaml(hydra_cfg.overrides.task), hydra_dir / "overrides.yaml")


@contextmanager
def run_log(run_dir: Path) -> Iterator[None]:
    """Copy every log record of the run to ``<run dir>/run.log`` (Hydra's job logging only prints)."""
    handler = logging.FileHandler(run_dir / RUN_LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()


def admit(cfg: DictConfig, run_dir: Path) -> tuple[str, dict | None]:
    """Check a job before anything in ``run_dir`` is touched: its settings, its objective, its checkpoint to resume
    from, and whether the dir may be (re)computed. Returns the config's fingerprint and the stored metrics of a
    finished run that ``resume=true`` keeps (None: compute it); raises :class:`ConfigError` otherwise."""
    validate(cfg)  # an invalid value or a misspelt objective fails before anything is touched
    objective_name(cfg)
    check_strategy(cfg)
    fingerprint = config_fingerprint(cfg)
    stored = check_run_dir(cfg, run_dir, fingerprint)
    if stored is None:
        check_resume_checkpoint(cfg, run_dir)
    return fingerprint, stored


def check_resume_checkpoint(cfg: DictConfig, run_dir: Path) -> None:
    """A ``ckpt_path`` inside the run dir would be cleared with the dir's old outputs before training reads it:
    refuse, naming the fix, rather than lose it."""
    ckpt_path = cfg.get("ckpt_path")
    if not ckpt_path:
        return
    checkpoint, run_dir = Path(ckpt_path).expanduser().resolve(), run_dir.resolve()
    if checkpoint.is_relative_to(run_dir):
        raise ConfigError(
            f"ckpt_path={ckpt_path} lies in this run's dir {run_dir}, whose old outputs (checkpoints/ included) are "
            f"cleared before the run starts; nothing was changed. Copy it out first (cp {ckpt_path} resume.ckpt) "
            "and pass ckpt_path=resume.ckpt, or resume into a new run dir (leave hydra.run.dir at its default)."
        )


@contextmanager
def started(cfg: DictConfig, run_dir: Path) -> Iterator[None]:
    """Open a job that is to be (re)computed: clear what an earlier attempt left in its dir (a stale error.txt,
    last.ckpt), write ``.hydra/``, and log to ``run.log`` while it runs."""
    run_dir.mkdir(parents=True, exist_ok=True)
    removed = clear_outputs(run_dir)
    write_job_config(cfg, run_dir)
    with run_log(run_dir):
        if removed:
            log.info("Cleared the earlier outputs of %s: %s", run_dir, ", ".join(removed))
        yield


def compute(cfg: DictConfig, run_dir: Path, fingerprint: str) -> RunResult:
    """Run the experiment and mark its dir finished, last, once every output is written."""
    result = run_experiment(cfg)
    write_marker(run_dir, fingerprint, debug=is_debug_run(cfg))
    return result


class JobOutcome(NamedTuple):
    """What :func:`run_job` did: the run dir, its metrics, and the in-memory result (None when ``resume=true``
    kept a finished run)."""

    run_dir: Path
    metrics: dict
    result: RunResult | None


def run_job(cfg: DictConfig) -> JobOutcome:
    """One job in its run dir for callers in Python (:mod:`musiclust.api`): the same rules as the command
    (refused, kept on ``resume=true``, cleared, marker last), with errors raised instead of turned into exit codes."""
    run_dir = Path(cfg.paths.output_dir)
    fingerprint, stored = admit(cfg, run_dir)
    if stored is not None:
        log.info("resume=true: %s already finished; keeping its results", run_dir)
        return JobOutcome(run_dir, stored, None)
    with started(cfg, run_dir):
        result = compute(cfg, run_dir, fingerprint)
    return JobOutcome(run_dir, result.metrics, result)


def run_and_report(cfg: DictConfig) -> float:
    """Run one experiment. User errors end a single run with one message (exit 2); in a sweep every
    failure is written to the job's ``error.txt`` and the sweep goes on, so finished jobs are kept.

    A dir that holds a finished run (its completion marker exists) is refused untouched, unless
    ``overwrite=true`` (recompute) or ``resume=true`` (keep it when its config is the same). A run that is
    (re)computed first clears every musiclust output of its dir, and marks the dir finished last.
    """
    run_dir = Path(cfg.paths.output_dir)
    if not is_rank_zero():  # a training process that DDP started for this run: it trains; the run dir is rank 0's
        run_experiment(cfg)
        return float("nan")
    try:
        fingerprint, stored = admit(cfg, run_dir)
    except ConfigError as err:
        if _is_multirun():
            note_job(run_dir, "refused", str(err))
            log.error("Job refused: %s", err)
            return float("nan")
        log.error("musiclust: error: %s", err)
        sys.exit(2)
    if stored is not None:
        note_job(run_dir, "kept")
        log.info("resume=true: %s already finished; keeping its results", run_dir)
        return objective_of(cfg, stored)

    note_job(run_dir, "started")
    with started(cfg, run_dir):
        return _compute(cfg, run_dir, fingerprint)


def _compute(cfg: DictConfig, run_dir: Path, fingerprint: str) -> float:
    try:
        if _in_worker_processes() and cfg.get("num_workers"):
            log.info("num_workers=%s → 0: the joblib launcher's workers cannot start DataLoader workers",
                     cfg.num_workers)
            cfg = cfg.copy()
            cfg.num_workers = 0
        result = compute(cfg, run_dir, fingerprint)
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
