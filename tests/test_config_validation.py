"""Config values are validated before any work: one message naming the key, the value and the fix."""

import pytest

from musiclust.errors import ConfigError
from musiclust.pipeline import run_experiment
from tests.conftest import run_cli


@pytest.mark.parametrize("overrides, message", [
    (["model.latent_dim=0"], "model.latent_dim=0: must be an integer ≥ 1"),
    (["model.lr=0"], "model.lr=0: must be a number > 0"),
    (["model.lr=-0.1"], "model.lr=-0.1: must be a number > 0"),
    (["batch_size=0"], "batch_size=0: must be an integer ≥ 1"),
    (["k=abc"], "k='abc': must be an integer ≥ 2, or auto"),
    (["k=2.5"], "k=2.5: must be an integer ≥ 2, or auto"),
    (["k=1"], "k=1: must be an integer ≥ 2"),
    (["trainer.max_epochs=0"], "trainer.max_epochs=0: must be an integer ≥ 1 for a model that trains"),
    (["clusterer=spectral", "clusterer.n_neighbors=36"], "clusterer.n_neighbors=36 needs more songs than the 36"),
    (["normalization=zscore"], "normalization='zscore': must be auto, standard, center, l2 or none"),
    (["clusterer=dbscan", "clusterer.eps_quantile=0"], "clusterer.eps_quantile=0: must be a share in (0, 1]"),
])
def test_invalid_values_stop_before_any_work(make_cfg, tmp_path, overrides, message):
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError) as caught:
        run_experiment(make_cfg(*overrides, cache_dir=cache))
    assert message in str(caught.value)
    assert "Set " in str(caught.value)  # and the fix
    assert not cache.exists()  # no features were computed, nothing was trained


def test_every_problem_is_listed_at_once(make_cfg, tmp_path):
    with pytest.raises(ConfigError) as caught:
        run_experiment(make_cfg("model.latent_dim=0", "batch_size=-1", cache_dir=tmp_path / "cache"))
    assert "model.latent_dim=0" in str(caught.value) and "batch_size=-1" in str(caught.value)


def test_a_closed_form_model_needs_no_epochs(make_cfg):
    result = run_experiment(make_cfg("model=pca", "trainer.max_epochs=0"))
    assert result.metrics["nmi"] > 0


def test_cli_answers_with_one_line_and_exit_2(tmp_path):
    done = run_cli("model.latent_dim=0", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert done.returncode == 2
    assert "model.latent_dim=0: must be an integer ≥ 1. Set e.g. model.latent_dim=16." in done.stderr + done.stdout
    assert "Traceback" not in done.stderr
