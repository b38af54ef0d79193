"""Install it anywhere: what a clone builds (sdist → wheel) holds every module, config and template and works from
any directory; the commands print musiclust's version; users keep their own config groups outside the package;
paths they pass are relative to where they run; debug runs are marked; run dirs say what they are."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import musiclust
from musiclust.compare import find_runs
from musiclust.layout import DONE_FILE, METRICS_FILE
from tests.conftest import ONE_THREAD_ENV, REPO, run_cli, tiny_overrides
from tests.music_fixtures import lyrics_for

BIN = Path(sys.executable).parent
#: what the package is made of in the working tree, as a developer sees it
PACKAGE_SUFFIXES = (".py", ".yaml", ".j2", ".typed")


def _tree_files() -> set[str]:
    return {path.relative_to(REPO).as_posix() for path in (REPO / "musiclust").rglob("*")
            if path.is_file() and path.suffix in PACKAGE_SUFFIXES and "__pycache__" not in path.parts}


def _build(command: list[str], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


@pytest.fixture(scope="module")
def clone_wheel(tmp_path_factory) -> Path:
    """The wheel built from the sdist of a clone's files (git ls-files): what `pip install git+...` installs."""
    root = tmp_path_factory.mktemp("clone")
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        if (REPO / name).is_file():
            (root / "src" / name).parent.mkdir(parents=True, exist_ok=True)
            (root / "src" / name).write_bytes((REPO / name).read_bytes())
    _build([sys.executable, "-c", f"from setuptools import build_meta; build_meta.build_sdist({str(root)!r})"],
           root / "src")
    (sdist,) = root.glob("musiclust-*.tar.gz")
    with tarfile.open(sdist) as archive:
        sdist_files = {name.split("/", 1)[1] for name in archive.getnames() if "/musiclust/" in name}
    assert _tree_files() <= sdist_files, sorted(_tree_files() - sdist_files)
    _build([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root),
            str(sdist)], root)
    (wheel,) = root.glob("musiclust-*.whl")
    return wheel


def test_a_clones_wheel_holds_every_module_config_and_template(clone_wheel):
    with zipfile.ZipFile(clone_wheel) as wheel:
        packaged = {name for name in wheel.namelist() if name.startswith("musiclust/")}
    missing = _tree_files() - packaged
    assert not missing, f"in the working tree but not in a clone's wheel (untracked? ignored?): {sorted(missing)}"
    assert {"musiclust/conf/config.yaml", "musiclust/conf/outputs/default.yaml", "musiclust/conf/debug/default.yaml",
            "musiclust/conf/logger/mlflow.yaml", "musiclust/compare/templates/report.html.j2"} <= packaged


def test_the_unpacked_wheel_composes_every_group_from_another_directory(clone_wheel, tmp_path):
    with zipfile.ZipFile(clone_wheel) as wheel:
        wheel.extractall(tmp_path / "site")
    code = (
        f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r})\n"
        "import musiclust, musiclust.pipeline\n"
        f"assert musiclust.__file__.startswith({str(tmp_path / 'site')!r}), musiclust.__file__\n"
        "from importlib.resources import files\n"
        "assert files('musiclust.compare').joinpath('templates/report.html.j2').is_file()\n"
        "for overrides in ([], ['experiment=medium_pca_kmeans'], ['logger=many_loggers'],\n"
        "                  ['debug=default', 'model=vade', 'feature=hybrid', 'clusterer=hdbscan']):\n"
        "    cfg = musiclust.compose(overrides)\n"
        "    steps = sorted(name for name, step in cfg.outputs.items() if step is not None)\n"
        "    print(cfg.paths.output_dir.rsplit('/', 1)[1][20:], steps)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert [line.split()[0] for line in lines] == [
        "vae-mfcc-kmeans", "pca-logmelspec-kmeans", "vae-mfcc-kmeans", "vade-hybrid-hdbscan"]
    assert "projections" in lines[0] and "projections" not in lines[3]


@pytest.mark.parametrize("command", ["musiclust", "musiclust-compare", "musiclust-data"])
def test_the_commands_print_musiclusts_version(command):
    done = subprocess.run([str(BIN / command), "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{command} {musiclust.__version__}"
    assert musiclust.__version__ == importlib.metadata.version("musiclust")


# ---------------------------------------------------------------------------------------------- users' configs
def _songs_csv(path: Path) -> Path:
    rows = [{"track": f"s{i:02d}", "text": lyrics_for(genre, language, i), "genre": genre, "language": language}
            for i, (genre, language) in enumerate([("rock", "en"), ("folk", "bn")] * 8)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _user_configs(folder: Path) -> Path:
    """A user's own config groups: a dataset and a clusterer (their own _target_), and an experiment."""
    (folder / "dataset").mkdir(parents=True)
    (folder / "clusterer").mkdir()
    (folder / "experiment").mkdir()
    (folder / "dataset" / "my_songs.yaml").write_text(
        "# my lyrics: songs.csv where I run musiclust\n"
        "defaults:\n  - manifest\n\n"
        "name: my_songs\npath: songs.csv\nid_col: track\naudio_col: null\nlyrics_col: text\n"
        "label_columns: [genre, language]\n")
    (folder / "clusterer" / "my_birch.yaml").write_text(
        "name: my_birch\n_target_: sklearn.cluster.Birch\nn_clusters: ${k}\nthreshold: 0.1\n")
    (folder / "experiment" / "my_grid.yaml").write_text(
        "# @package _global_\n"
        "defaults:\n  - override /dataset: my_songs\n  - override /feature: lyrics_tfidf\n"
        "  - override /model: pca\n  - override /clusterer: my_birch\n\n"
        "label_col: language\nk: 2\nplot_columns: [language]\n")
    return folder


def test_a_user_config_dir_adds_a_dataset_a_clusterer_and_an_experiment(tmp_path):
    """From the user's own directory: ``--config-dir`` finds their groups, relative paths are theirs."""
    work = tmp_path / "work"
    work.mkdir()
    _songs_csv(work / "songs.csv")
    _user_configs(work / "my_conf")
    done = run_cli("--config-dir", "my_conf", "experiment=my_grid", "paths.cache_dir=cache",
                   "outputs.projections.methods=[]", "trainer.enable_progress_bar=false", cwd=work)
    assert done.returncode == 0, done.stderr[-3000:]
    (run_dir,) = (work / "outputs" / "runs").iterdir()
    assert re.fullmatch(r"[\d_-]{19}_pca-lyrics_tfidf-my_birch", run_dir.name)
    row = pd.read_csv(run_dir / METRICS_FILE).iloc[0]
    assert (row["dataset"], row["clusterer"], row["clusterer_class"], row["n_songs"]) == (
        "my_songs", "my_birch", "Birch", 16)
    assert row["nmi"] > 0.5  # English vs Bangla lyrics: Birch finds them
    assert any((work / "cache").iterdir())  # paths.cache_dir=cache: under the working directory

    compared = subprocess.run([str(BIN / "musiclust-compare"), "outputs/runs"], cwd=work, capture_output=True,
                              text=True, timeout=120, env={**os.environ, **ONE_THREAD_ENV})
    assert compared.returncode == 0 and "my_birch" in compared.stdout, compared.stderr


def test_hydra_searchpath_finds_a_users_groups_too(tmp_path, monkeypatch):
    _user_configs(tmp_path / "my_conf")
    monkeypatch.chdir(tmp_path)
    cfg = musiclust.compose([f"hydra.searchpath=[file://{tmp_path / 'my_conf'}]", "dataset=my_songs",
                             "clusterer=my_birch", "k=3"])
    assert (cfg.dataset._target_, cfg.dataset.path, cfg.clusterer._target_, cfg.clusterer.n_clusters) == (
        "musiclust.data.ManifestDataset", "songs.csv", "sklearn.cluster.Birch", 3)
    same = musiclust.compose(["dataset=my_songs", "clusterer=my_birch", "k=3"], config_dir=tmp_path / "my_conf")
    assert same.clusterer == cfg.clusterer and same.dataset == cfg.dataset


# ----------------------------------------------------------------------------------- paths, debug runs, names
def test_a_relative_ckpt_path_is_read_from_where_musiclust_runs(demo_root, shared_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    vae = [*tiny_overrides(demo_root, shared_cache), "feature=lyrics_tfidf", "label_col=language", "k=2",
           "outputs.projections.methods=[]", "~callbacks.epoch_metrics", "~callbacks.early_stopping"]
    first = musiclust.run([*vae, "trainer.max_epochs=1"])
    relative = first.run_dir.relative_to(tmp_path) / "checkpoints" / "last.ckpt"
    resumed = musiclust.run([*vae, "trainer.max_epochs=2", f"ckpt_path={relative}",
                             "hydra.run.dir=outputs/resumed"])
    assert resumed.metrics["epochs_trained"] == 2
    assert pd.read_csv(resumed.run_dir / "logs" / "metrics.csv")["epoch"].dropna().astype(int).unique().tolist() == [1]


def test_debug_default_is_a_short_marked_trial_without_plots(demo_root, shared_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    tiny = [item for item in tiny_overrides(demo_root, shared_cache) if item.startswith(("dataset.", "paths."))]
    result = musiclust.run([*tiny, "feature=lyrics_tfidf", "label_col=language", "k=2", "debug=default"])
    assert result.metrics["epochs_trained"] == 1 and result.metrics["features_from_cache"] is False
    assert json.loads((result.run_dir / DONE_FILE).read_text())["debug"] is True
    assert not any((result.run_dir / d).exists() for d in ("latent_visualization", "cluster_distributions",
                                                            "reconstructions"))
    assert (result.run_dir / METRICS_FILE).is_file()
    assert find_runs([tmp_path / "outputs"]).empty  # left out of comparisons unless asked
    assert len(find_runs([tmp_path / "outputs"], include_debug=True)) == 1
