"""trainer=ddp: training in 2 CPU processes (gloo) through Lightning's DDP strategy, the run dir owned by rank 0.

Lightning's DDP re-launches the command once per extra process; those processes train their share of the
batches and nothing else: the run dir's lifecycle (refusal, clearing, .hydra/, the marker) and every output
happen once, in the process the user started.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.conftest import TINY_DEMO, run_cli

#: 36 songs in batches of 8: 5 batches per epoch in one process, 3 per process (18 songs each) with 2
EPOCHS, BATCH = 3, 8


@pytest.fixture
def cli_args(demo_root, shared_cache):
    return [
        f"dataset.root={demo_root}", *(f"dataset.{k}={v}" for k, v in TINY_DEMO.items()),
        f"paths.cache_dir={shared_cache}", f"trainer.max_epochs={EPOCHS}", "trainer.enable_progress_bar=false",
        f"batch_size={BATCH}", "~callbacks.early_stopping", "~outputs.projections", "~outputs.distributions",
        "~outputs.reconstructions",
    ]


def _finished(proc, run_dir) -> pd.Series:
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (run_dir / "finished.json").is_file()
    return pd.read_csv(run_dir / "clustering_metrics.csv").iloc[0]


def _steps(run_dir) -> int:
    return int(pd.read_csv(run_dir / "logs" / "metrics.csv")["step"].max())


def test_ddp_with_two_cpu_processes_matches_one_process(cli_args, tmp_path):
    single_dir, ddp_dir = tmp_path / "single", tmp_path / "ddp"
    single = _finished(run_cli(*cli_args, f"hydra.run.dir={single_dir}", cwd=tmp_path), single_dir)
    proc = run_cli(*cli_args, "trainer=ddp", "trainer.accelerator=cpu", f"hydra.run.dir={ddp_dir}", cwd=tmp_path)
    ddp = _finished(proc, ddp_dir)
    assert (ddp["strategy"], ddp["world_size"]) == ("ddp", 2)
    assert (single["strategy"], single["world_size"]) == ("single_device", 1)
    assert ddp["n_clusters_found"] == single["n_clusters_found"] == 6
    assert ddp["epochs_trained"] == single["epochs_trained"] == EPOCHS
    # Lightning's DistributedSampler gave each process half of the songs: 3 batches per epoch instead of 5
    assert _steps(single_dir) == EPOCHS * 5 and _steps(ddp_dir) == EPOCHS * 3
    # the job ran once: one result line, one log of the run, nothing cleared by a second process
    assert proc.stdout.count("Results in") == 1, proc.stdout
    run_log = (ddp_dir / "run.log").read_text()
    assert run_log.count("Done:") == 1 and "Cleared the earlier outputs" not in run_log


def test_ddp_in_an_in_process_sweep_is_refused_with_the_fix(cli_args, tmp_path):
    sweep_dir = tmp_path / "sweep"
    proc = run_cli("-m", *cli_args, "trainer=ddp", "trainer.accelerator=cpu", "seed=0,1",
                   f"hydra.sweep.dir={sweep_dir}", cwd=tmp_path)
    errors = proc.stdout + proc.stderr
    assert "Traceback" not in errors, errors
    assert "trainer.strategy=ddp" in errors and "its own command" in errors
    assert not list(sweep_dir.glob("*/finished.json"))
