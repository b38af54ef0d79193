"""Loggers people use: csv, tensorboard and mlflow (a local file store, no server), one or several at once, each
writing where the README says; a logger whose package is missing is named before any work."""

from __future__ import annotations

import importlib.util

import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from musiclust.config import logger_problems
from musiclust.errors import ConfigError
from musiclust.jobs import run_job
from musiclust.layout import METRICS_FILE

LYRICS_VAE = ["feature=lyrics_tfidf", "label_col=language", "k=2", "model=vae", "trainer.max_epochs=2",
              "~callbacks.epoch_metrics", "~callbacks.early_stopping", "outputs.projections.methods=[tsne]"]


def test_many_loggers_write_csv_tensorboard_and_mlflow_files(make_cfg, tmp_path):
    from mlflow import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tmp_path / "runs" / "vae-run"
    cfg = make_cfg(*LYRICS_VAE, "logger=many_loggers", run_dir=run_dir)
    assert list(cfg.logger) == ["csv", "tensorboard", "mlflow"]
    run_job(cfg)
    metrics = pd.read_csv(run_dir / METRICS_FILE).iloc[0]

    # csv: per-epoch losses and the final metrics; the run's settings as hyperparameters
    logged = pd.read_csv(run_dir / "logs" / "metrics.csv")
    assert logged["train/loss"].notna().sum() == 2
    assert logged["final/nmi"].dropna().tolist() == pytest.approx([metrics["nmi"]])
    hparams = yaml.safe_load((run_dir / "logs" / "hparams.yaml").read_text())
    assert (hparams["model"], hparams["feature"], hparams["k"], hparams["model.latent_dim"]) == (
        "vae", "lyrics_tfidf", 2, 16)

    # tensorboard: event files with the same scalars
    scalars = set()
    for path in (run_dir / "tensorboard").glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(path)).Reload()
        scalars |= set(accumulator.Tags()["scalars"])
    assert {"train/loss", "final/nmi", "final/silhouette"} <= scalars, scalars

    # mlflow: a file store shared by the runs under paths.log_dir, params + metrics + the run dir's files
    store = tmp_path / "runs" / "outputs" / "mlruns"  # paths.log_dir of the test's run dir
    assert store.is_dir()
    client = MlflowClient(tracking_uri=f"file:{store}")
    (run,) = client.search_runs([client.get_experiment_by_name("musiclust").experiment_id])
    assert run.info.run_name == "runs/vae-run" and run.data.tags["run_dir"] == str(run_dir)
    assert (run.data.params["model"], run.data.params["feature"], run.data.params["model.latent_dim"]) == (
        "vae", "lyrics_tfidf", "16")
    assert run.data.metrics["final/nmi"] == pytest.approx(metrics["nmi"])
    assert len(client.get_metric_history(run.info.run_id, "train/loss")) == 2  # one per epoch
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"clustering_metrics.csv", "latent_visualization", "cluster_distributions", ".hydra"} <= artifacts
    plots = [a.path for a in client.list_artifacts(run.info.run_id, "latent_visualization")]
    assert plots == ["latent_visualization/vae_kmeans_tsne.png", "latent_visualization/vae_kmeans_tsne_points.csv"]
    artifact_dir = store / run.info.experiment_id / run.info.run_id / "artifacts"
    assert (artifact_dir / "clustering_metrics.csv").read_bytes() == (run_dir / METRICS_FILE).read_bytes()


def test_two_runs_share_one_mlflow_experiment_to_compare(make_cfg, tmp_path):
    from mlflow import MlflowClient

    lyrics_pca = ["feature=lyrics_tfidf", "label_col=language", "k=2", "logger=mlflow",
                  "outputs.projections.methods=[]"]
    for model in ("pca", "raw"):
        run_job(make_cfg(*lyrics_pca, f"model={model}", run_dir=tmp_path / "runs" / model))
    client = MlflowClient(tracking_uri=f"file:{tmp_path / 'runs' / 'outputs' / 'mlruns'}")
    runs = client.search_runs([client.get_experiment_by_name("musiclust").experiment_id],
                              order_by=["params.model"])
    assert [r.data.params["model"] for r in runs] == ["pca", "raw"]
    assert all("final/nmi" in r.data.metrics for r in runs)
    assert not (tmp_path / "runs" / "pca" / "logs").exists()  # logger=mlflow alone: no csv logs


def test_a_logger_whose_package_is_missing_is_named_before_any_work(make_cfg, tmp_path, monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.split(".")[0] == "mlflow" else real_find_spec(name, *a))
    with pytest.raises(ConfigError, match=r"logger\.mlflow .*needs mlflow.*musiclust\[mlflow\]"):
        run_job(make_cfg(*LYRICS_VAE, "logger=[csv,mlflow]", run_dir=tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_a_logger_node_without_a_name_gets_a_message():
    single = OmegaConf.create({"logger": {"_target_": "pytorch_lightning.loggers.CSVLogger", "save_dir": "x"}})
    (problem,) = logger_problems(single)
    assert "names each logger" in problem and "logger.csv._target_" in problem
