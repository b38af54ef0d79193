"""musiclust-predict: a finished run's learned parts assign songs — its own songs to exactly its clusters, new songs
to the nearest of them — and nothing in a changed or untrusted run dir is run."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import skops.io
from omegaconf import OmegaConf
from sklearn.cluster import KMeans
from skops.io.exceptions import UntrustedTypesFoundException

from musiclust.data.demo import DemoDataset
from musiclust.errors import ConfigError, UnsafeRunError
from musiclust.features.base import FeatureSet
from musiclust.jobs import run_and_report
from musiclust.layout import ASSIGNMENTS_FILE, DONE_FILE, LEARNED_DIR
from musiclust.predict import check_targets, compose_prediction_config, conditioned, predict, saved_config
from tests.conftest import ONE_THREAD_ENV, REPO, compose_config, tiny_overrides

FAST = ["outputs.projections.methods=[]", "~outputs.distributions", "~outputs.reconstructions",
        "~callbacks.epoch_metrics"]


def finished_run(demo_root: Path, cache: Path, run_dir: Path, *overrides: str) -> Path:
    """A tiny-demo run as ``musiclust`` runs it: config in .hydra/, marked finished."""
    run_and_report(compose_config([*tiny_overrides(demo_root, cache), *FAST, *overrides], run_dir))
    assert (run_dir / DONE_FILE).is_file()
    return run_dir


@pytest.fixture(scope="module")
def default_run(demo_root, shared_cache, tmp_path_factory) -> Path:
    """The default run (VAE on MFCC statistics, k-means), shared by the tests that only read it."""
    return finished_run(demo_root, shared_cache, tmp_path_factory.mktemp("default") / "run")


def files_of(run_dir: Path) -> dict[str, str]:
    """Every file of a run dir with its content hash: what predict must not change."""
    return {str(p.relative_to(run_dir)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run_dir.rglob("*")) if p.is_file()}


# -- the run's own songs -------------------------------------------------------------------------------------------
CLUSTERINGS = {  # clusterer → the overrides of its run; together they cover every model family and reducer
    "kmeans": ([], "KMeans"),
    "agglomerative": (["clusterer=agglomerative", "model=pca"], "NearestSongAssigner"),
    "gmm": (["clusterer=gmm", "model=cvae"], "GaussianMixture"),
    "dbscan": (["clusterer=dbscan"], "CoreSampleAssigner"),
    "spectral": (["clusterer=spectral", "model=raw", "reducer=pca"], "NearestSongAssigner"),
    "vade": (["model=vade", "clusterer=model"], "ModelClusters"),
    "hdbscan": (["clusterer=hdbscan", "clusterer.min_cluster_size=3", "model=pca"], "CoreDistanceAssigner"),
    "kmeans_on_umap": (["reducer=umap", "model=pca"], "KMeans"),
}


@pytest.mark.parametrize("name", list(CLUSTERINGS))
def test_predicting_a_runs_own_songs_gives_exactly_its_assignments(name, demo_root, shared_cache, tmp_path):
    overrides, rule = CLUSTERINGS[name]
    run_dir = finished_run(demo_root, shared_cache, tmp_path / "run", *overrides)
    before = files_of(run_dir)
    out = predict(run_dir)  # the run's own dataset, no overrides
    assert out.parent == run_dir / "predictions"
    own = pd.read_csv(run_dir / ASSIGNMENTS_FILE)
    predicted = pd.read_csv(out / ASSIGNMENTS_FILE)
    assert json.loads((run_dir / LEARNED_DIR / "meta.json").read_text())["assignment_rule"] == rule
    assert own["cluster"].nunique() >= 2
    # the same table: ids, clusters, distances (and probabilities), label columns
    pd.testing.assert_frame_equal(predicted, own, check_exact=False, rtol=1e-5)
    assert {k: v for k, v in files_of(run_dir).items() if not k.startswith("predictions")} == before


def test_new_songs_get_the_runs_clusters_from_the_command_line(default_run, tmp_path):
    """A manifest of three of the run's songs under new ids, six songs the run never saw (one per genre) and one
    whose audio is missing, given by a path relative to where the command runs."""
    fresh = DemoDataset(root=str(tmp_path / "fresh"), n_songs=6, seed=7, duration=2.0).load()
    own = pd.read_csv(default_run / ASSIGNMENTS_FILE)
    demo = Path(OmegaConf.load(default_run / ".hydra" / "config.yaml").dataset.root)
    old = pd.read_csv(demo / "manifest.csv").set_index("id").loc[own["id"][:3]].reset_index()
    old["audio_path"] = [str(demo / p) for p in old["audio_path"]]
    old["id"] = ["copy_" + i for i in old["id"]]
    fresh["audio_path"] = [str(Path(p).resolve()) for p in fresh["audio_path"]]
    fresh["id"] = ["new_" + str(i) for i in fresh["id"]]
    broken = old.iloc[:1].assign(id="broken", audio_path=str(tmp_path / "no_such_song.wav"))
    pd.concat([old, fresh[old.columns], broken]).to_csv(tmp_path / "new.csv", index=False)

    env = {**os.environ, **ONE_THREAD_ENV, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(
        [sys.executable, "-m", "musiclust.predict", str(default_run), "dataset=manifest", "dataset.path=new.csv",
         "dataset.label_columns=[genre]", "--out", "predicted"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Assignments of 9 songs" in done.stdout
    table = pd.read_csv(tmp_path / "predicted" / ASSIGNMENTS_FILE)
    assert list(table.columns) == ["id", "cluster", "cluster_name", "distance", "genre"]
    assert table["id"].tolist() == [*old["id"], *fresh["id"]]
    assert table["cluster"][:3].tolist() == own["cluster"][:3].tolist()  # the copies: the run's clusters
    assert set(table["cluster"]) <= set(own["cluster"]) and table["distance"].notna().all()
    skipped = pd.read_csv(tmp_path / "predicted" / "skipped.csv")
    assert skipped["id"].tolist() == ["broken"]


# -- what is refused ----------------------------------------------------------------------------------------------
def test_an_unfinished_run_is_refused(default_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(default_run, run_dir)
    (run_dir / DONE_FILE).unlink()
    with pytest.raises(UnsafeRunError, match="not a finished musiclust run"):
        predict(run_dir)
    assert not (run_dir / "predictions").exists()


class Tripwire:
    """Writes a file when it is built from a saved state: proof that code from a run dir ran."""

    path = None

    def __setstate__(self, state: dict) -> None:
        Path(state["path"]).write_text("code from the run dir ran")


def test_a_skops_file_with_a_type_outside_the_allow_list_is_refused_without_running_it(default_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(default_run, run_dir)
    learned = run_dir / LEARNED_DIR
    tripped = tmp_path / "tripped"
    bait = KMeans(n_clusters=2)
    bait.tripwire = Tripwire()
    bait.tripwire.__dict__["path"] = str(tripped)
    skops.io.dump(bait, learned / "assigner.skops")
    with pytest.raises(UnsafeRunError, match="does not match its checksum"):  # changed after the run finished
        predict(run_dir)
    meta = json.loads((learned / "meta.json").read_text())  # an attacker can rewrite the checksums too
    data = (learned / "assigner.skops").read_bytes()
    meta["files"]["assigner.skops"] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (learned / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UnsafeRunError, match="tests.test_predict.Tripwire") as refused:
        predict(run_dir)
    assert isinstance(refused.value.__cause__, UntrustedTypesFoundException)
    assert not tripped.exists()
    skops.io.load(learned / "assigner.skops", trusted=["tests.test_predict.Tripwire"])  # trusting it would run it
    assert tripped.is_file()


def test_a_config_target_outside_musiclust_is_refused(default_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(default_run, run_dir)
    config = run_dir / ".hydra" / "config.yaml"
    config.write_text(config.read_text().replace("_target_: musiclust.models.VAE", "_target_: os.system"))
    with pytest.raises(UnsafeRunError, match=r"model\._target_='os.system'"):
        predict(run_dir)


DASK_AT_ANOTHER_HOST = "{_target_: musiclust.features.executors.DaskExecutor, address: 'tcp://elsewhere:8786'}"


def test_a_feature_that_would_run_on_a_dask_cluster_named_by_the_run_dir_is_refused(default_run):
    # a Dask client unpickles what the scheduler sends back: a run dir must not pick where predict computes
    cfg = saved_config(default_run)
    cfg.feature.executor = OmegaConf.create(DASK_AT_ANOTHER_HOST)
    refused = r"feature\.executor\._target_='musiclust\.features\.executors\.DaskExecutor'"
    with pytest.raises(UnsafeRunError, match=refused):
        check_targets(cfg)


def test_predict_extracts_on_this_machine_whatever_executor_the_run_used(default_run, tmp_path):
    saved = saved_config(default_run)
    saved.executor = OmegaConf.create(DASK_AT_ANOTHER_HOST)
    cfg = compose_prediction_config(saved, [], tmp_path / "out", k=None)
    assert cfg.feature.executor._target_ == "musiclust.features.executors.LocalExecutor"
    check_targets(cfg)


def test_overrides_beyond_the_songs_and_an_out_dir_inside_the_run_are_refused(default_run):
    with pytest.raises(ConfigError, match="overrides of the songs only"):
        predict(default_run, ["model=pca"])
    with pytest.raises(ConfigError, match="inside the run dir"):
        predict(default_run, out=str(default_run / LEARNED_DIR))
    with pytest.raises(ConfigError, match="inside the run dir"):
        predict(default_run, out=str(default_run))


def test_a_feature_fitted_to_the_collection_is_refused_naming_it(demo_root, shared_cache, tmp_path):
    run_dir = finished_run(demo_root, shared_cache, tmp_path / "run", "feature=lyrics_tfidf", "model=pca",
                           "label_col=language", "k=2")
    with pytest.raises(ConfigError, match="feature=lyrics_tfidf: a song's values depend on the whole collection"):
        predict(run_dir)


def test_the_command_answers_a_refusal_with_one_message(tmp_path):
    env = {**os.environ, **ONE_THREAD_ENV, "PYTHONWARNINGS": "ignore"}
    done = subprocess.run([sys.executable, "-m", "musiclust.predict", str(tmp_path)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"musiclust-predict: error: {tmp_path} is not a finished musiclust run (no {DONE_FILE}: it crashed, was "
        "killed or is still running). Predict from a run that finished, or rerun this one."]


def test_recomputing_a_run_clears_its_learned_parts_and_predictions(demo_root, shared_cache, tmp_path):
    run_dir = finished_run(demo_root, shared_cache, tmp_path / "run", "model=pca")
    out = predict(run_dir)
    assert (out / ASSIGNMENTS_FILE).is_file()
    finished_run(demo_root, shared_cache, run_dir, "model=pca", "k=3", "overwrite=true")
    assert not (run_dir / "predictions").exists()  # predictions of the old model no longer apply
    assert json.loads((run_dir / LEARNED_DIR / "meta.json").read_text())["k"] == 3
    assert pd.read_csv(run_dir / ASSIGNMENTS_FILE)["cluster"].nunique() == 3


def test_a_cvaes_new_songs_with_a_value_it_never_saw_are_skipped():
    learned = SimpleNamespace(meta={"conditions": {"column": "language", "categories": ["bn", "en"]}})
    features = FeatureSet(np.arange(6, dtype=np.float32).reshape(3, 2), ["a", "b", "c"])
    manifest = pd.DataFrame({"id": ["a", "b", "c"], "language": ["en", "fr", "bn"]})
    features, manifest, conditions, skipped = conditioned(learned, features, manifest)
    assert features.ids.tolist() == ["a", "c"] and manifest["id"].tolist() == ["a", "c"]
    assert conditions.tolist() == [[0, 1], [1, 0]]
    assert skipped["id"].tolist() == ["b"] and "language='fr'" in skipped["reason"][0]
