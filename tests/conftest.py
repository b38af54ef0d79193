"""Shared fixtures: a tiny demo dataset generated once per session, and config composition helpers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

from musiclust.run import CONFIG_DIR

#: tiny data on 2 cores: thread pools (torch, OpenMP, BLAS) cost far more than they save
ONE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}

TINY_DEMO = {"n_songs": 36, "duration": 2.0, "seed": 0, "sr": 22050}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def one_thread():
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    """A 36-song, 2-second demo set shared by the whole session."""
    from musiclust.data.demo import DemoDataset

    root = tmp_path_factory.mktemp("demo")
    DemoDataset(root=str(root), **TINY_DEMO).load()
    return root


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory) -> Path:
    """One feature cache for the session, so each feature is extracted once."""
    return tmp_path_factory.mktemp("cache")


def tiny_overrides(demo_root: Path, cache_dir: Path) -> list[str]:
    return [
        f"dataset.root={demo_root}",
        *(f"dataset.{k}={v}" for k, v in TINY_DEMO.items()),
        f"paths.cache_dir={cache_dir}",
        "trainer.max_epochs=3",
        "trainer.enable_progress_bar=false",
        "outputs.projections.methods=[tsne]",
    ]


def compose_config(overrides: list[str], run_dir: Path) -> DictConfig:
    """What ``musiclust <overrides>`` composes, with the run dir set as Hydra would."""
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(run_dir)
        cfg.paths.root_dir = str(run_dir.parent)
    return cfg


@pytest.fixture
def make_cfg(demo_root, shared_cache, tmp_path):
    """``make_cfg("model=pca", "k=3")`` → a composed config on the tiny demo set, run dir in tmp_path."""

    def make(*overrides: str, run_dir: Path | None = None, cache_dir: Path | None = None) -> DictConfig:
        base = tiny_overrides(demo_root, cache_dir or shared_cache)
        return compose_config([*base, *overrides], run_dir or tmp_path / "run")

    return make


def run_cli(*args: str, cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``python -m musiclust ARGS`` as a user would; returns the completed process."""
    env = {**os.environ, **ONE_THREAD_ENV, "PYTHONWARNINGS": "ignore", "HYDRA_FULL_ERROR": ""}
    env.pop("HYDRA_FULL_ERROR")
    return subprocess.run(
        [sys.executable, "-m", "musiclust", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout,
    )
