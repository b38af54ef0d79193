"""The command line as a user meets it: help, multirun, and one clear message for each mistake."""

from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import TINY_DEMO, run_cli


@pytest.fixture
def cli_args(demo_root, shared_cache, tmp_path):
    return [
        f"dataset.root={demo_root}", *(f"dataset.{k}={v}" for k, v in TINY_DEMO.items()),
        f"paths.cache_dir={shared_cache}", f"paths.root_dir={tmp_path}", "trainer.max_epochs=2",
        "trainer.enable_progress_bar=false",
    ]


def _assert_one_clear_error(proc, *needles):
    assert proc.returncode != 0, proc.stdout
    err = proc.stderr + proc.stdout
    assert "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def test_help_lists_config_groups(tmp_path):
    proc = run_cli("--help", cwd=tmp_path)
    assert proc.returncode == 0
    for group in ("dataset:", "feature:", "model:", "backbone:", "clusterer:", "trainer:", "callbacks:", "logger:"):
        assert group in proc.stdout


def test_multirun_gives_one_job_dir_per_model(cli_args, tmp_path):
    proc = run_cli("-m", "model=vae,pca,raw", *cli_args, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = [pd.read_csv(p) for p in sorted(Path(tmp_path, "outputs", "multirun").glob("*/*/clustering_metrics.csv"))]
    assert sorted(r["model"].iloc[0] for r in rows) == ["pca", "raw", "vae"]


def test_unknown_label_column(cli_args, tmp_path):
    proc = run_cli(*cli_args, "label_col=mood", cwd=tmp_path)
    _assert_one_clear_error(proc, "label_col='mood' is not a column", "label_col=<one of those>")


def test_k_larger_than_dataset(cli_args, tmp_path):
    proc = run_cli(*cli_args, "model=pca", "k=500", cwd=tmp_path)
    _assert_one_clear_error(proc, "k=500 is larger than the number of songs (36)")


def test_unknown_option_in_group(cli_args, tmp_path):
    proc = run_cli(*cli_args, "model=vaee", cwd=tmp_path)
    _assert_one_clear_error(proc, "Could not find 'model/vaee'", "Available options in 'model'")


def test_typo_in_override(cli_args, tmp_path):
    proc = run_cli(*cli_args, "trainer.max_epochz=3", cwd=tmp_path)
    _assert_one_clear_error(proc, "max_epochz")


def test_manifest_without_audio_for_audio_feature(cli_args, tmp_path):
    manifest = tmp_path / "lyrics_only.csv"
    pd.DataFrame({"id": ["a", "b", "c"], "lyrics": ["la la", "na na", "da da"], "genre": list("xyz")}).to_csv(
        manifest, index=False)
    args = [a for a in cli_args if not a.startswith("dataset.")]
    proc = run_cli(*args, "dataset=manifest", f"dataset.path={manifest}", "feature=mfcc", "k=2", cwd=tmp_path)
    _assert_one_clear_error(proc, "feature=mfcc needs column(s) ['audio_path']", "feature=lyrics_tfidf")


def test_finished_run_dir_is_not_overwritten_unless_asked(make_cfg, tmp_path, caplog):
    from musiclust.jobs import run_and_report
    from musiclust.layout import write_marker

    run_dir = tmp_path / "finished"
    run_dir.mkdir()
    (run_dir / "clustering_metrics.csv").write_text("model,nmi\npca,0.5\n")
    write_marker(run_dir, "an earlier config")
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    with pytest.raises(SystemExit) as exit_info:
        run_and_report(make_cfg("model=pca", run_dir=run_dir))
    assert exit_info.value.code == 2
    assert "already holds the results of a finished run" in caplog.text and "overwrite=true" in caplog.text
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before
    assert run_and_report(make_cfg("model=pca", "overwrite=true", run_dir=run_dir)) > 0.3


def test_a_refused_single_run_touches_nothing_in_the_finished_dir(cli_args, tmp_path):
    """Hydra would write the new run's .hydra/ (and so its settings) into the finished dir before musiclust
    runs: the refusal must come first, so compare still reads the finished run's own settings."""
    from musiclust.compare import find_runs

    run_dir = tmp_path / "finished"
    lyrics = ["feature=lyrics_tfidf", "label_col=language", "k=2", "model=pca", f"hydra.run.dir={run_dir}"]
    assert run_cli(*cli_args, *lyrics, cwd=tmp_path).returncode == 0
    before = {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in run_dir.rglob("*") if p.is_file()}
    proc = run_cli(*cli_args, *lyrics, "k=3", "seed=7", cwd=tmp_path)
    assert {str(p): (p.read_bytes(), p.stat().st_mtime_ns) for p in run_dir.rglob("*") if p.is_file()} == before
    _assert_one_clear_error(proc, "already holds the results of a finished run", "nothing was changed",
                            "resume=true", "overwrite=true")
    assert proc.returncode == 2
    (run,) = find_runs([run_dir]).to_dict("records")
    assert (run["k"], run["seed"], run["status"]) == (2, 42, "ok")
