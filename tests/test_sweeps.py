"""Task suites, launchers, resuming and the sweep comparison, run as a user would (``musiclust -m ...``)."""

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import OmegaConf

from musiclust.compare import main as compare_main
from musiclust.errors import ConfigError
from musiclust.layout import write_marker
from musiclust.run import CONFIG_DIR
from musiclust.sweep import config_fingerprint, finished_metrics
from tests.conftest import ONE_THREAD_ENV, REPO, run_cli, tiny_overrides

LYRICS = ["feature=lyrics_tfidf", "label_col=language", "k=2"]


@pytest.fixture(scope="module")
def cli(demo_root, shared_cache) -> list[str]:
    # no plots: sweeps are about jobs and tables (t-SNE alone can take 20 s per job on a busy machine)
    return [*tiny_overrides(demo_root, shared_cache), "trainer.max_epochs=2", "outputs.projections.methods=[]",
            "~outputs.reconstructions"]


def sweep_dirs(cwd: Path) -> list[Path]:
    return sorted(p for p in (cwd / "outputs" / "multirun").iterdir() if p.is_dir())


def job_dirs(sweep: Path) -> list[Path]:
    return sorted((p for p in sweep.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))


def run_ok(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    proc = run_cli(*args, f"paths.root_dir={cwd}", cwd=cwd, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def easy_sweep(tmp_path_factory, cli) -> Path:
    """``musiclust -m task=easy seed=0,1`` on the tiny demo: vae and pca, two seeds each."""
    cwd = tmp_path_factory.mktemp("easy")
    run_ok("-m", "task=easy", "seed=0,1", *cli, cwd=cwd)
    (sweep,) = sweep_dirs(cwd)
    return sweep


@pytest.fixture(scope="module")
def joblib_sweep(tmp_path_factory, cli) -> tuple[Path, subprocess.CompletedProcess]:
    """A plain sweep (no task) under the joblib launcher, 2 jobs at once; the conv2d VAE on vector
    features must fail with a clear error while the PCA job finishes."""
    cwd = tmp_path_factory.mktemp("joblib")
    proc = run_cli("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "model=pca,vae", "backbone=conv2d",
                   "num_workers=2", *LYRICS, *cli, f"paths.root_dir={cwd}", cwd=cwd)
    (sweep,) = sweep_dirs(cwd)
    return sweep, proc


@pytest.fixture(scope="module")
def single_run(tmp_path_factory, cli) -> Path:
    cwd = tmp_path_factory.mktemp("single")
    run_ok("model=raw", *LYRICS, *cli, cwd=cwd)
    (run_dir,) = (cwd / "outputs" / "runs").iterdir()
    return run_dir


# ------------------------------------------------------------------------------------------- composition
def compose_task(*overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=True)


def test_easy_task_sets_its_defaults_and_command_line_wins():
    cfg = compose_task("task=easy")
    assert (cfg.task_name, cfg.label_col, cfg.k, cfg.feature.name) == ("easy", "language", 2, "lyrics_tfidf")
    assert list(cfg.outputs.projections.methods) == ["tsne", "umap"]
    assert cfg.hydra.sweeper.params == {"model": "vae,pca"}
    assert cfg.hydra.sweep.dir.endswith("_easy")  # the sweep dir says which task it holds
    cfg = compose_task("task=easy", "k=3", "label_col=genre", "feature=mfcc")
    assert (cfg.k, cfg.label_col, cfg.feature.name) == (3, "genre", "mfcc")
    cfg = compose_task("task=easy", "outputs.projections.methods=[tsne]")
    assert list(cfg.outputs.projections.methods) == ["tsne"]
    assert compose_task().task_name is None  # no task: plain runs are untouched


def suite_jobs(task: str, *arguments: str) -> list[list[str]]:
    """The jobs of ``musiclust -m task=<task> ARGUMENTS`` as Hydra's basic sweeper forms them: the task's
    ``hydra.sweeper.params``, then the command line (a key given twice keeps its place and takes the later value),
    each sweep expanded (``glob`` against the config group's options), then their product."""
    params = compose_task(f"task={task}").hydra.sweeper.params
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        parser = OverridesParser.create(config_loader=GlobalHydra.instance().config_loader())
        axes: dict[str, list[str]] = {}
        for override in parser.parse_overrides([*(f"{k}={v}" for k, v in params.items()), *arguments]):
            key = override.get_key_element()
            values = override.sweep_string_iterator() if override.is_sweep_override() else [
                override.get_value_element_as_str()]
            axes[key] = [f"{key}={value}" for value in values]
    return [[f"task={task}", *job] for job in itertools.product(*axes.values())]


def job_cell(job: list[str]) -> tuple:
    """What a job computes, from its composed config: (feature, model, clusterer, seed) and the model's settings."""
    cfg = compose_task(*job)
    return (cfg.feature.name, cfg.model.name, cfg.clusterer.name, cfg.seed, cfg.model.get("beta"),
            cfg.model.get("cond_col"), cfg.feature.get("metadata_col"))


#: the cells of the suites before they became experiment configs (feature, model, clusterer)
MEDIUM_CELLS = {
    *(("logmelspec", "vae", c) for c in ("kmeans", "agglomerative", "dbscan")),       # conv-VAE
    *(("hybrid", "raw", c) for c in ("kmeans", "agglomerative", "dbscan")),           # the hybrid embedding as is
    *(("logmelspec", m, "kmeans") for m in ("pca", "ae", "raw")),                     # baselines
    ("logmelspec", "raw", "spectral"),                                                # spectral on raw features
}
HARD_CELLS = {("logmelspec", m, "kmeans") for m in ("beta_vae", "cvae", "pca", "ae", "raw")} | {
    ("multimodal", "raw", "kmeans")}


def test_medium_suite_is_one_job_per_experiment_cell():
    jobs = suite_jobs("medium")
    assert len(jobs) == 10 and all(job[1].startswith("experiment=medium_") for job in jobs)
    cells = [job_cell(job) for job in jobs]
    assert {cell[:3] for cell in cells} == MEDIUM_CELLS and len(set(cells)) == 10
    assert {cell[3] for cell in cells} == {42}
    cfg = compose_task(*jobs[0])
    assert (cfg.task_name, cfg.label_col, cfg.k, cfg.backbone.name, cfg.trainer.max_epochs) == (
        "medium", "genre", "auto", "conv2d", 40)
    assert cfg.hydra.sweep.dir.endswith("_medium")


def test_command_line_seeds_multiply_every_cell():
    jobs = suite_jobs("medium", "seed=0,1,2")
    assert len(jobs) == len(suite_jobs("medium", "seed=range(0,3)")) == 30
    cells = [job_cell(job) for job in jobs]
    assert len(set(cells)) == 30 and {cell[:3] for cell in cells} == MEDIUM_CELLS
    assert {cell[3] for cell in cells} == {0, 1, 2}
    assert len(suite_jobs("hard", "seed=0,1")) == 12


def test_command_line_overrides_win_over_the_cells():
    """clusterer=kmeans replaces every cell's clusterer: the 10 jobs compute 5 configurations (as the task file
    says); choosing cells by name runs each once."""
    cells = [job_cell(job) for job in suite_jobs("medium", "clusterer=kmeans")]
    assert len(cells) == 10 and {cell[2] for cell in cells} == {"kmeans"}
    assert {cell[:2] for cell in cells} == {("logmelspec", m) for m in ("vae", "pca", "ae", "raw")} | {
        ("hybrid", "raw")}
    chosen = suite_jobs("medium", "experiment=glob(medium_*_kmeans)")
    assert len(chosen) == 5 and {job_cell(job)[:3] for job in chosen} == {c for c in MEDIUM_CELLS if c[2] == "kmeans"}
    assert [job_cell(job)[:3] for job in suite_jobs("medium", "experiment=medium_raw_spectral")] == [
        ("logmelspec", "raw", "spectral")]


def test_hard_suite_is_one_job_per_experiment_cell():
    jobs = suite_jobs("hard")
    cells = {job_cell(job) for job in jobs}
    assert len(jobs) == len(cells) == 6 and {cell[:3] for cell in cells} == HARD_CELLS
    assert ("logmelspec", "beta_vae", "kmeans", 42, 4.0, None, None) in cells
    assert ("logmelspec", "cvae", "kmeans", 42, 1.0, "language", None) in cells
    assert ("multimodal", "raw", "kmeans", 42, None, None, "genre") in cells


def test_one_cell_runs_alone_with_its_suite_settings():
    alone = compose_task("experiment=medium_conv_vae_kmeans")
    in_suite = compose_task("task=medium", "experiment=medium_conv_vae_kmeans")
    without_hydra = [{k: v for k, v in OmegaConf.to_container(c).items() if k != "hydra"} for c in (alone, in_suite)]
    assert without_hydra[0] == without_hydra[1]
    assert (alone.task_name, alone.feature.name, alone.model.name, alone.backbone.name, alone.clusterer.name) == (
        "medium", "logmelspec", "vae", "conv2d", "kmeans")
    assert compose_task("experiment=medium_conv_vae_kmeans", "clusterer=dbscan").clusterer.name == "dbscan"


def test_easy_suite_jobs():
    assert [job_cell(job)[:3] for job in suite_jobs("easy")] == [
        ("lyrics_tfidf", "vae", "kmeans"), ("lyrics_tfidf", "pca", "kmeans")]


def test_no_private_hydra_api():
    """Sweeps use Hydra's public API only: a private module breaks on a Hydra upgrade."""
    private = re.compile(r"^\s*(from|import)\s+hydra\._internal", re.MULTILINE)
    sources = [p for folder in ("musiclust", "tests", "hydra_plugins") for p in (REPO / folder).rglob("*.py")]
    assert len(sources) > 20
    assert [str(p.relative_to(REPO)) for p in sources if private.search(p.read_text(encoding="utf-8"))] == []


# ------------------------------------------------------------------------------------------- task easy
def test_easy_sweep_comparison_has_one_row_per_job(easy_sweep):
    jobs = job_dirs(easy_sweep)
    assert len(jobs) == 4
    table = pd.read_csv(easy_sweep / "easy_comparison.csv")
    assert len(table) == 4 and table["run_dir"].is_unique
    assert sorted(zip(table["model"], table["seed"], strict=True)) == [("pca", 0), ("pca", 1), ("vae", 0), ("vae", 1)]
    assert set(table["status"]) == {"ok"} and table["error"].isna().all()
    assert {Path(p).name for p in table["run_dir"]} == {p.name for p in jobs}
    assert (table.loc[table["model"] == "pca", "nmi"] > 0.9).all()  # lyrics separate English from Bangla


def test_easy_sweep_summary_over_seeds_with_stability(easy_sweep):
    summary = pd.read_csv(easy_sweep / "easy_comparison_summary.csv").set_index("model")
    assert sorted(summary.index) == ["pca", "vae"]
    assert (summary["n_runs"] == 2).all() and (summary["n_failed"] == 0).all()
    table = pd.read_csv(easy_sweep / "easy_comparison.csv")
    pca_nmi = table.loc[table["model"] == "pca", "nmi"]
    assert summary.loc["pca", "nmi_mean"] == pytest.approx(pca_nmi.mean())
    assert summary.loc["pca", "nmi_std"] == pytest.approx(pca_nmi.std(ddof=1), abs=1e-12)
    # both pca seeds separate the languages perfectly, so they agree with each other
    assert summary.loc["pca", "stability_ari"] == pytest.approx(1.0)
    assert -1 <= summary.loc["vae", "stability_ari"] <= 1 and summary.loc["vae", "stability_pairs"] == 1


# ------------------------------------------------------------------------------------------- joblib, failures
def test_joblib_sweep_lists_the_failed_job_with_its_error_and_exits_non_zero(joblib_sweep):
    sweep, proc = joblib_sweep
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "1 of 2 jobs failed" in proc.stdout + proc.stderr and "Traceback" not in proc.stdout + proc.stderr
    table = pd.read_csv(sweep / "multirun_comparison.csv").set_index("model")
    assert sorted(table.index) == ["pca", "vae"]
    assert table.loc["pca", "status"] == "ok" and np.isfinite(table.loc["pca", "nmi"])
    assert table.loc["vae", "status"] == "failed" and np.isnan(table.loc["vae", "nmi"])
    assert "conv2d" in table.loc["vae", "error"]
    assert (Path(table.loc["vae", "run_dir"]) / "error.txt").exists()
    summary = pd.read_csv(sweep / "multirun_comparison_summary.csv").set_index("model")
    assert summary.loc["vae", "n_failed"] == 1 and summary.loc["vae", "n_runs"] == 0


def test_joblib_workers_run_without_dataloader_workers(joblib_sweep):
    sweep, proc = joblib_sweep
    logs = "".join(p.read_text() for job in job_dirs(sweep) for p in job.glob("*.log"))
    assert "num_workers=2 → 0" in logs + proc.stdout + proc.stderr
    assert "Joblib" in proc.stdout + proc.stderr  # the launcher really was joblib


# ------------------------------------------------------------------------------------------- compare
def test_compare_two_sweeps_and_a_single_run(easy_sweep, joblib_sweep, single_run, tmp_path, capsys):
    out = tmp_path / "cmp"
    env = {**os.environ, **ONE_THREAD_ENV, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "musiclust.compare", str(easy_sweep), str(joblib_sweep[0]),
                           str(single_run), "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    printed = proc.stdout
    table = pd.read_csv(out.with_suffix(".csv"))
    assert len(table) == 7 and table["run_dir"].is_unique  # 4 easy jobs + 2 joblib jobs + 1 single run
    assert {"task", "model", "seed"} <= set(table.columns)
    assert sorted(table["task"].fillna("")) == ["", "", ""] + ["easy"] * 4
    assert table["status"].iloc[-1] == "failed" and "conv2d" in printed
    assert out.with_suffix(".md").read_text().split("|")[1].strip() == "task"  # the Markdown table's first header
    assert (tmp_path / "cmp_nmi.png").stat().st_size > 1000

    assert compare_main([str(easy_sweep), str(single_run), "--group-by", "model", "--out", str(out)]) == 0
    assert "±" in capsys.readouterr().out
    grouped = pd.read_csv(out.with_suffix(".csv")).set_index("model")
    assert grouped.loc["vae", "n_runs"] == 2 and grouped.loc["raw", "n_runs"] == 1
    assert grouped.loc["pca", "nmi_mean"] >= grouped.loc["vae", "nmi_mean"]


# ------------------------------------------------------------------------------------------- resume
#: what a resumed sweep writes again: its own config, the comparison tables and the journal of jobs it reached
RESWEPT = ("multirun.yaml", "easy_comparison", ".musiclust_jobs")


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_a_refused_rerun_changes_nothing_and_resume_keeps_every_job(easy_sweep, cli):
    """Re-running a finished sweep into its dir without resume=true is refused before any job starts; then
    resume=true keeps every job and the comparison (and musiclust-compare) list them as they were."""
    cwd = easy_sweep.parents[2]  # where the sweep was started: <cwd>/outputs/multirun/<sweep>
    args = ["-m", "task=easy", "seed=0,1", *cli, f"hydra.sweep.dir={easy_sweep}", f"paths.root_dir={cwd}"]
    before = snapshot(easy_sweep)
    refused = run_cli(*args, cwd=cwd)
    output = refused.stdout + refused.stderr
    assert refused.returncode == 2 and "Traceback" not in output, output[-3000:]
    assert "already holds 4 finished job(s)" in output and "resume=true" in output and "overwrite=true" in output
    assert snapshot(easy_sweep) == before

    resumed = run_cli(*args, "resume=true", cwd=cwd)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert {k: v for k, v in snapshot(easy_sweep).items() if not k.startswith(RESWEPT)} == {
        k: v for k, v in before.items() if not k.startswith(RESWEPT)}
    table = pd.read_csv(easy_sweep / "easy_comparison.csv")
    assert len(table) == 4 and set(table["status"]) == {"ok"}
    assert compare_main([str(easy_sweep)]) == 0


def test_killed_sweep_resumes_without_redoing_finished_jobs(tmp_path, cli):
    """Kill a sweep during its second job; resume=true keeps job 0 as it was and finishes the rest."""
    sweep = tmp_path / "sweep"
    args = ["-m", "model=pca,vae,raw", *LYRICS,
            *cli, "trainer.max_epochs=8", f"hydra.sweep.dir={sweep}", f"paths.root_dir={tmp_path}"]
    env = {**os.environ, **ONE_THREAD_ENV, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen([sys.executable, "-m", "musiclust", *args], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    first, second_started = sweep / "0" / "clustering_metrics.csv", sweep / "1" / ".hydra" / "overrides.yaml"
    try:
        deadline = time.time() + 240
        while not second_started.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep's own process group: only what this test started
    finally:
        proc.wait(timeout=60)
    assert first.exists() and second_started.exists(), "the sweep never reached its second job"
    assert not (sweep / "1" / "clustering_metrics.csv").exists(), "killed too late: job 1 had already finished"
    finished = first.read_bytes(), first.stat().st_mtime_ns

    with pytest.warns(UserWarning, match="incomplete"):
        from musiclust.compare import find_runs
        assert len(find_runs([sweep])) == 1  # the killed job is named and left out

    resumed = run_cli(*args, "resume=true", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert (first.read_bytes(), first.stat().st_mtime_ns) == finished  # job 0 not recomputed
    table = pd.read_csv(sweep / "multirun_comparison.csv")
    assert sorted(table["model"]) == ["pca", "raw", "vae"] and set(table["status"]) == {"ok"}
    assert "already finished; keeping its results" in resumed.stdout + resumed.stderr


def test_resume_refuses_results_of_another_config(make_cfg, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "clustering_metrics.csv").write_text("model,nmi\npca,0.5\n")
    assert finished_metrics(run_dir, config_fingerprint(make_cfg("model=pca"))) is None  # no marker: recompute
    write_marker(run_dir, config_fingerprint(make_cfg("model=pca")))
    assert finished_metrics(run_dir, config_fingerprint(make_cfg("model=pca", "resume=true")))["nmi"] == 0.5
    with pytest.raises(ConfigError, match="different configuration.*hydra.sweep.dir"):
        finished_metrics(run_dir, config_fingerprint(make_cfg("model=pca", "k=3")))


# ------------------------------------------------------------------------------------------- other launchers
def test_optuna_search_config():
    cfg = compose_task("hparams_search=vae_optuna")
    sweeper = cfg.hydra.sweeper
    assert sweeper._target_.endswith("OptunaSweeper") and sweeper.storage is None
    assert sweeper.direction == "maximize" and cfg.objective == "nmi" and cfg.model.name == "vae"
    assert set(sweeper.params) == {"model.latent_dim", "model.beta", "model.lr"}
    assert cfg.hydra.mode == RunMode.MULTIRUN  # no -m needed


def test_slurm_launcher_config():
    launcher = compose_task("hydra/launcher=slurm", "hydra.launcher.partition=gpu").hydra.launcher
    assert launcher._target_.endswith("submitit_launcher.SlurmLauncher")
    assert (launcher.partition, launcher.timeout_min) == ("gpu", 120)


@pytest.mark.slow
def test_submitit_local_launcher(tmp_path, cli):
    run_ok("-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=10", "model=pca,raw", *LYRICS,
           *cli, cwd=tmp_path)
    (sweep,) = sweep_dirs(tmp_path)
    table = pd.read_csv(sweep / "multirun_comparison.csv")
    assert sorted(table["model"]) == ["pca", "raw"] and set(table["status"]) == {"ok"}
    assert list((sweep / ".submitit").glob("*/*_log.out"))


@pytest.mark.slow
def test_optuna_search_records_every_trial(tmp_path, cli):
    run_ok("hparams_search=vae_optuna", "hydra.sweeper.n_trials=2", *LYRICS, *cli, cwd=tmp_path)
    (sweep,) = sweep_dirs(tmp_path)
    assert sweep.name.endswith("_vae_optuna")
    results = OmegaConf.load(sweep / "optimization_results.yaml")
    assert set(results.best_params) == {"model.latent_dim", "model.beta", "model.lr"}
    table = pd.read_csv(sweep / "vae_optuna_comparison.csv")
    assert len(table) == 2 and table["run_dir"].is_unique
    assert results.best_value == pytest.approx(table["nmi"].max())  # the objective is NMI


# ------------------------------------------------------------------------------------------- full suites
@pytest.mark.slow
@pytest.mark.parametrize("task, n_jobs", [("medium", 10), ("hard", 6)])
def test_full_task_on_tiny_demo(tmp_path, cli, task, n_jobs):
    run_ok("-m", f"task={task}", *cli, cwd=tmp_path, timeout=1800)
    (sweep,) = sweep_dirs(tmp_path)
    table = pd.read_csv(sweep / f"{task}_comparison.csv")
    assert len(table) == n_jobs and table["run_dir"].is_unique and len(job_dirs(sweep)) == n_jobs
    assert set(table["status"]) == {"ok"}, table[["model", "clusterer", "error"]]
    assert not table.duplicated([c for c in ("feature", "model", "clusterer", "model.beta", "model.cond_col")
                                 if c in table.columns]).any()
    cells = sorted(path.stem for path in (Path(CONFIG_DIR) / "experiment").glob(f"{task}_*.yaml"))
    assert sorted(table["experiment"]) == cells  # every cell once, under its name
    if task == "hard":  # the leakage reference is named as such next to its scores
        assert table.set_index("experiment").loc["hard_multimodal_genre", "feature"] == "multimodal"
