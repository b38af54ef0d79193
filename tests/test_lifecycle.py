"""A run dir's life: finished only when its marker is written last, recomputed cleanly when asked, never
refused half-way, marked when it was a debug run, readable by colleagues (umask)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
import torch

from musiclust.compare import find_runs, run_status
from musiclust.compare import main as compare_main
from musiclust.jobs import run_and_report
from musiclust.layout import DONE_FILE, METRICS_FILE
from tests.conftest import compose_config
from tests.music_fixtures import lyrics_for

LYRICS_PCA = ["feature=lyrics_tfidf", "label_col=language", "k=2", "model=pca", "~outputs.reconstructions"]


def lyrics_manifest(path: Path, blank_genre: tuple[int, ...] = ()) -> Path:
    """16 songs, English and Bangla lyrics, a genre column left blank for the songs in ``blank_genre``."""
    rows = []
    for i in range(16):
        genre, language = ("rock", "en") if i % 2 else ("folk", "bn")
        rows.append({"id": f"s{i:02d}", "lyrics": lyrics_for(genre, language, i),
                     "genre": "" if i in blank_genre else genre})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def manifest_cfg(csv: Path, run_dir: Path, *overrides: str):
    return compose_config([
        "dataset=manifest", f"dataset.path={csv}", "dataset.audio_col=null", "dataset.label_columns=[genre]",
        "feature=lyrics_tfidf", "model=pca", "k=2", "label_col=genre", "trainer.enable_progress_bar=false",
        f"paths.cache_dir={run_dir.parent / 'cache'}", *overrides,
    ], run_dir)


# ------------------------------------------------------------------------------------------- item 10
def test_blank_labels_are_reported_as_unlabelled_and_the_run_finishes(tmp_path):
    csv = lyrics_manifest(tmp_path / "songs.csv", blank_genre=(3, 6, 9))
    run_dir = tmp_path / "run"
    assert run_and_report(manifest_cfg(csv, run_dir)) > 0.5
    metrics = pd.read_csv(run_dir / METRICS_FILE).iloc[0]
    assert metrics["n_unlabelled"] == 3 and metrics["n_songs"] == 16
    assert (run_dir / DONE_FILE).is_file() and run_status(run_dir) == "ok"
    assert list((run_dir / "latent_visualization").glob("*.png"))
    assert (run_dir / "cluster_distributions" / "clusters_by_genre.png").is_file()


def test_a_run_that_crashed_after_its_metrics_is_not_finished_and_can_be_rerun(tmp_path):
    csv = lyrics_manifest(tmp_path / "songs.csv")
    run_dir = tmp_path / "run"
    with pytest.raises(SystemExit):  # the distribution plotter fails after clustering_metrics.csv was written
        run_and_report(manifest_cfg(csv, run_dir, "outputs.distributions.columns=[mood]"))
    assert (run_dir / METRICS_FILE).is_file() and not (run_dir / DONE_FILE).exists()
    assert run_status(run_dir) == "incomplete"
    assert run_and_report(manifest_cfg(csv, run_dir)) > 0.5  # not refused as "already finished"
    assert run_status(run_dir) == "ok"


# ------------------------------------------------------------------------------------------- item 12
def test_overwrite_and_resume_leave_this_runs_checkpoint_as_last_ckpt(make_cfg, tmp_path):
    run_dir = tmp_path / "run"
    vae = [*LYRICS_PCA, "model=vae", "outputs.projections.methods=[]", "~callbacks.epoch_metrics"]
    run_and_report(make_cfg(*vae, "trainer.max_epochs=3", run_dir=run_dir))
    run_and_report(make_cfg(*vae, "trainer.max_epochs=2", "overwrite=true", run_dir=run_dir))
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["last.ckpt"]
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 2

    (run_dir / DONE_FILE).unlink()  # as if the job had been killed before it finished
    run_and_report(make_cfg(*vae, "trainer.max_epochs=1", "resume=true", run_dir=run_dir))
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["last.ckpt"]
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)["epoch"] == 1


# ------------------------------------------------------------------------------------------- item 16
def test_debug_runs_are_marked_and_left_out_of_comparisons_unless_asked(make_cfg, tmp_path, capsys):
    runs = tmp_path / "runs"
    run_and_report(make_cfg(*LYRICS_PCA, run_dir=runs / "real"))
    run_and_report(make_cfg(*LYRICS_PCA, "+trainer.fast_dev_run=true", run_dir=runs / "trial"))
    assert json.loads((runs / "trial" / DONE_FILE).read_text())["debug"] is True
    assert json.loads((runs / "real" / DONE_FILE).read_text())["debug"] is False
    assert pd.read_csv(runs / "trial" / METRICS_FILE)["debug"].tolist() == [True]

    assert [Path(p).name for p in find_runs([runs])["run_dir"]] == ["real"]
    capsys.readouterr()
    assert compare_main([str(runs)]) == 0
    captured = capsys.readouterr()
    assert "trial" not in captured.out and "1 debug run" in captured.err and "--include-debug" in captured.err
    assert compare_main([str(runs), "--include-debug"]) == 0
    printed = capsys.readouterr().out
    assert "trial" in printed and "debug" in printed.splitlines()[0]


# ------------------------------------------------------------------------------------------- item 17
@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700)])
def test_outputs_and_cache_entries_follow_the_umask(make_cfg, tmp_path, umask, file_mode, dir_mode):
    from fsspec.implementations import local

    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    # Lightning saves checkpoints through fsspec, which reads the umask once per process; this test changes it
    getattr(local.get_umask, "cache_clear", lambda: None)()
    previous = os.umask(umask)
    try:
        run_and_report(make_cfg(*LYRICS_PCA, run_dir=run_dir, cache_dir=cache))
    finally:
        os.umask(previous)
        getattr(local.get_umask, "cache_clear", lambda: None)()
    paths = [p for root in (run_dir, cache) for p in root.rglob("*")]
    assert any(p.suffix == ".png" for p in paths) and any(p.name == "values.npy" for p in paths)
    wrong = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in paths
             if stat.S_IMODE(p.stat().st_mode) != (dir_mode if p.is_dir() else file_mode)}
    assert not wrong, wrong
