"""The Python API: ``musiclust.compose`` and ``musiclust.run`` do what the command does, from a notebook."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

import musiclust
from musiclust.errors import ConfigError
from musiclust.layout import DONE_FILE, LATENTS_FILE, METRICS_FILE
from tests.conftest import REPO, tiny_overrides

LYRICS_PCA = ["feature=lyrics_tfidf", "label_col=language", "k=2", "model=pca", "outputs.projections.methods=[]"]
RUN_NAME = re.compile(r"\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d_pca-lyrics_tfidf-kmeans")


@pytest.fixture
def tiny(demo_root, shared_cache, tmp_path, monkeypatch):
    """The tiny demo's overrides, run from an empty working directory (as a notebook would)."""
    monkeypatch.chdir(tmp_path)
    return [*tiny_overrides(demo_root, shared_cache), *LYRICS_PCA]


def test_run_returns_metrics_assignments_and_a_finished_run_dir(tiny, tmp_path):
    result = musiclust.run(tiny)
    assert result.run_dir.parent == tmp_path / "outputs" / "runs" and RUN_NAME.fullmatch(result.run_dir.name)
    assert json.loads((result.run_dir / DONE_FILE).read_text())["debug"] is False
    stored = pd.read_csv(result.run_dir / METRICS_FILE).iloc[0]
    assert result.metrics["nmi"] == pytest.approx(stored["nmi"]) and result.metrics["n_songs"] == 36
    with np.load(result.run_dir / LATENTS_FILE) as latents:
        assert result.assignments["id"].tolist() == latents["ids"].tolist()
        assert result.assignments["cluster"].tolist() == latents["clusters"].tolist()
    assert result.result.model is not None and result.result.z.shape[0] == 36
    # as the command writes it, so musiclust-compare tells the run's settings from its overrides
    assert OmegaConf.load(result.run_dir / ".hydra" / "overrides.yaml") == OmegaConf.create(tiny)
    assert OmegaConf.load(result.run_dir / ".hydra" / "hydra.yaml").hydra.runtime.choices.model == "pca"


def test_a_finished_run_dir_is_refused_unless_resume_or_overwrite(tiny, tmp_path):
    first = musiclust.run([*tiny, "hydra.run.dir=outputs/mine"])
    assert first.run_dir == tmp_path / "outputs" / "mine"
    before = (first.run_dir / METRICS_FILE).read_bytes()
    with pytest.raises(ConfigError, match="already holds the results of a finished run"):
        musiclust.run([*tiny, "hydra.run.dir=outputs/mine"])
    kept = musiclust.run([*tiny, "hydra.run.dir=outputs/mine", "resume=true"])
    assert kept.result is None and kept.metrics["nmi"] == pytest.approx(first.metrics["nmi"])
    pd.testing.assert_frame_equal(kept.assignments, first.assignments)
    assert (first.run_dir / METRICS_FILE).read_bytes() == before


def test_compose_gives_the_config_the_command_runs(tiny, tmp_path):
    cfg = musiclust.compose([*tiny, "model.latent_dim=8"])
    assert (cfg.model.name, cfg.model.latent_dim, cfg.k) == ("pca", 8, 2)
    run_dir = cfg.paths.output_dir
    assert run_dir.startswith(str(tmp_path / "outputs" / "runs")) and RUN_NAME.fullmatch(run_dir.rsplit("/", 1)[1])
    assert "hydra" not in cfg
    other = musiclust.compose(["model=vae"])  # a later compose does not move the first config's run dir
    assert cfg.paths.output_dir == run_dir and other.paths.output_dir.endswith("_vae-mfcc-kmeans")


def test_compose_names_a_misspelt_key_or_option():
    with pytest.raises(ConfigError, match="modell"):
        musiclust.compose(["modell=pca"])
    with pytest.raises(ConfigError, match="no_such_model"):
        musiclust.compose(["model=no_such_model"])


def test_importing_musiclust_loads_the_api_only_when_used():
    code = ("import sys, musiclust; print('hydra' in sys.modules, 'musiclust.api' in sys.modules); "
            "import musiclust.run; print(callable(musiclust.run), musiclust.compose.__module__)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.stdout.split() == ["False", "False", "True", "musiclust.api"], done.stderr
