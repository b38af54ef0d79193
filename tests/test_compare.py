"""Comparing runs across output dirs: finding runs, aggregating over seeds, stability, and the CLI.

Run dirs here are written by hand with known numbers, so every expected value can be checked exactly;
tests/test_sweeps.py compares real sweep and single-run dirs end to end.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from musiclust import compare
from musiclust.compare import aggregate, display_frame, find_runs, main, stability, summarize, varying_settings
from musiclust.config import SETTING_NAMES, settings_of
from musiclust.layout import write_marker
from musiclust.sweep import write_sweep_comparison

IDS = np.array([f"song{i:02d}" for i in range(12)])
GENRE = np.repeat([0, 1, 2], 4)


def write_run(run_dir: Path, model: str, seed: int, nmi: float | None, clusters=None, overrides=(),
              error: str | None = None, lr: float = 1e-3, k: int = 3, label_col: str = "genre",
              extra: dict | None = None) -> Path:
    """A run dir as musiclust leaves it: .hydra/, clustering_metrics.csv + latents.npz + the completion marker
    (or error.txt; or neither: interrupted)."""
    hydra_dir = run_dir / ".hydra"
    hydra_dir.mkdir(parents=True)
    config = {"task_name": None, "seed": seed, "k": k, "label_col": label_col,
              "dataset": {"name": "demo"}, "feature": {"name": "mfcc"}, "clusterer": {"name": "kmeans"},
              "backbone": {"name": "mlp"}, "model": {"name": model, "latent_dim": 8, "lr": lr},
              "paths": {"output_dir": "${hydra:runtime.output_dir}"}}
    OmegaConf.save(OmegaConf.create(config), hydra_dir / "config.yaml")
    OmegaConf.save(OmegaConf.create({"hydra": {"runtime": {"choices": {"model": model, "feature": "mfcc"}}}}),
                   hydra_dir / "hydra.yaml")
    OmegaConf.save(OmegaConf.create([f"model={model}", f"seed={seed}", *overrides]), hydra_dir / "overrides.yaml")
    if error is not None:
        (run_dir / "error.txt").write_text(error)
        return run_dir
    if nmi is not None:
        row = {"task": "", "dataset": "demo", "feature": "mfcc", "model": model, "backbone": "mlp",
               "clusterer": "kmeans", "k": k, "seed": seed, "label_col": label_col, "latent_dim": 8, "beta": "",
               "nmi": nmi, "ari": nmi / 2, "silhouette": 0.1 + seed / 100, "n_songs": 12,
               "features_from_cache": True, "kl_per_dim": "0.1;0.2", **(extra or {}), "run_dir": str(run_dir)}
        pd.DataFrame([row]).to_csv(run_dir / "clustering_metrics.csv", index=False)
        clusters = GENRE if clusters is None else np.asarray(clusters)
        np.savez(run_dir / "latents.npz", z=np.zeros((12, 2)), ids=IDS, clusters=clusters,
                 mean=np.zeros(2), std=np.ones(2))
        write_marker(run_dir, fingerprint=f"{model}-{seed}")
    return run_dir


def markdown_cells(text: str) -> list[list[str]]:
    """The cells of a Markdown table, row by row (header first, separator line left out, ``\\|`` kept)."""
    rows = [[cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]] for line in text.splitlines()]
    return [row for row in rows if not all(re.fullmatch(r":?-+:?", cell) for cell in row)]


@pytest.fixture
def sweep(tmp_path) -> Path:
    """A sweep dir: vae and pca over seeds 0-2, one vae job failed, one pca job interrupted."""
    root = tmp_path / "multirun" / "2024-01-01_10-00-00_easy"
    relabelled = np.array([2, 0, 1])[GENRE]  # the same partition under other cluster ids
    write_run(root / "0", "vae", 0, 0.50, clusters=GENRE)
    write_run(root / "1", "vae", 1, 0.70, clusters=relabelled)
    write_run(root / "2", "vae", 2, None, error="ConfigError: conv2d needs (C,F,T) features. Use backbone=mlp.\n")
    write_run(root / "3", "pca", 0, 0.90, clusters=GENRE)
    write_run(root / "4", "pca", 1, 0.80, clusters=np.tile([0, 1, 2], 4))
    write_run(root / "5", "pca", 2, None)  # interrupted: neither metrics nor error
    return root


def test_find_runs_one_row_per_run_with_status_and_error(sweep):
    with pytest.warns(UserWarning, match=r"incomplete run.*5"):
        runs = find_runs([sweep, sweep / "0", sweep])  # overlapping paths: each run once
    assert len(runs) == 5 and runs["run_dir"].is_unique
    assert sorted(runs["status"]) == ["failed", "ok", "ok", "ok", "ok"]
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert failed["model"] == "vae" and failed["seed"] == 2  # settings of a failed job come from its config
    assert failed["error"].startswith("ConfigError: conv2d needs") and np.isnan(failed["nmi"])
    assert set(runs.loc[runs["status"] == "ok", "nmi"]) == {0.5, 0.7, 0.9, 0.8}
    assert "run_dir" not in compare.setting_columns(runs) and "nmi" in compare.metric_columns(runs)


def test_incomplete_runs_listed_only_when_asked(sweep):
    runs = find_runs([sweep], include_incomplete=True)
    assert len(runs) == 6
    assert runs.loc[runs["status"] == "incomplete", "run_dir"].str.endswith("5").all()


def test_error_line_of_a_traceback(tmp_path):
    trace = ("RuntimeError: Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n"
             "    boom()\nRuntimeError: the GPU caught fire\n")
    write_run(tmp_path / "r", "vae", 0, None, error=trace)
    assert find_runs([tmp_path])["error"].iloc[0] == "RuntimeError: the GPU caught fire"


def test_varying_settings_include_override_keys_but_not_bookkeeping(tmp_path):
    write_run(tmp_path / "a", "vae", 0, 0.5, overrides=["model.lr=0.001", "paths.root_dir=/x"], lr=1e-3)
    write_run(tmp_path / "b", "vae", 0, 0.6, overrides=["model.lr=0.01", "paths.root_dir=/y"], lr=1e-2)
    runs = find_runs([tmp_path])
    assert varying_settings(runs) == ["model.lr"]
    assert sorted(runs["model.lr"]) == [0.001, 0.01]
    assert "paths.root_dir" not in runs.columns


def test_aggregate_mean_std_over_seeds(sweep):
    runs = find_runs([sweep], include_incomplete=True)
    table = aggregate(runs, ["model"], ["nmi", "silhouette"]).set_index("model")
    assert table.loc["vae", "n_runs"] == 2 and table.loc["vae", "n_failed"] == 1
    assert table.loc["pca", "n_runs"] == 2 and table.loc["pca", "n_failed"] == 1
    assert table.loc["vae", "seeds"] == "0,1"
    assert table.loc["vae", "nmi_mean"] == pytest.approx(0.6)
    assert table.loc["vae", "nmi_std"] == pytest.approx(np.std([0.5, 0.7], ddof=1))
    assert table.loc["pca", "nmi_mean"] == pytest.approx(0.85)


def test_stability_is_pairwise_ari_between_seeds(sweep):
    runs = find_runs([sweep], include_incomplete=True)
    stable = stability(runs, ["model"]).set_index("model")
    # vae's two seeds give the same partition under different cluster ids: perfectly stable
    assert stable.loc["vae", "stability_ari"] == pytest.approx(1.0)
    assert stable.loc["vae", "stability_pairs"] == 1
    # pca's partitions are unrelated (genre blocks vs round robin): ARI below chance level
    assert stable.loc["pca", "stability_ari"] < 0.05
    single = stability(runs[runs["run_dir"].str.endswith("0")], ["model"])
    assert np.isnan(single["stability_ari"].iloc[0]) and single["stability_pairs"].iloc[0] == 0


def test_summary_has_one_row_per_cell(sweep):
    runs = find_runs([sweep], include_incomplete=True)
    summary = summarize(runs, compare.default_group_by(runs))
    assert compare.default_group_by(runs) == ["model"]
    assert len(summary) == 2 and not summary.duplicated(["model"]).any()
    assert {"nmi_mean", "nmi_std", "stability_ari"} <= set(summary.columns)


def test_cli_combines_dirs_and_writes_csv_markdown_and_charts(sweep, tmp_path, capsys):
    other_day = tmp_path / "multirun" / "2024-02-03_09-00-00_medium"
    write_run(other_day / "0", "raw", 0, 0.3)
    write_run(other_day / "1", "raw", 1, None, error="DataError: a | pipe\nand a second line\n")
    single = write_run(tmp_path / "runs" / "2024-02-04_12-00-00", "ae", 7, 0.65)
    out = tmp_path / "report" / "cmp"
    code = main([str(sweep), str(other_day), str(single), "--metric", "nmi", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out.with_suffix(".csv"))
    assert len(table) == 8 and table["run_dir"].is_unique  # 4 ok + 2 failed + raw + ae; incomplete ignored
    ok = table[table["status"] == "ok"]
    assert list(ok["nmi"]) == sorted(ok["nmi"], reverse=True)  # best first
    assert table["status"].iloc[-1] == "failed"  # no metric: last
    # the Markdown table holds the printed (rounded) cells of every row; a | inside a cell is escaped
    with pytest.warns(UserWarning, match="incomplete"):
        shown = display_frame(compare.compare([sweep, other_day, single], metric="nmi").table)
    expected = [list(shown.columns), *(list(row) for row in shown.itertuples(index=False))]
    assert markdown_cells(out.with_suffix(".md").read_text()) == [
        [cell.replace("|", "\\|") for cell in row] for row in expected]
    assert "DataError: a \\| pipe and a second line" in out.with_suffix(".md").read_text()
    for metric in ("nmi", "ari", "silhouette"):
        assert (tmp_path / "report" / f"cmp_{metric}.png").stat().st_size > 1000
    assert "conv2d needs" in printed and "wrote" in printed


def test_cli_group_by_aggregates_to_mean_and_std(sweep, tmp_path, capsys):
    out = tmp_path / "agg.csv"
    assert main([str(sweep), "--group-by", "model", "--metrics", "nmi", "--out", str(out), "--no-plots"]) == 0
    table = pd.read_csv(out)
    assert list(table["model"]) == ["pca", "vae"]  # sorted by nmi_mean
    assert table["nmi_mean"].tolist() == pytest.approx([0.85, 0.6])
    assert "0.850 ± 0.071" in capsys.readouterr().out
    assert "± " in (tmp_path / "agg.md").read_text()


def test_cli_bare_group_by_uses_every_varying_setting_but_seed(sweep, capsys):
    assert main([str(sweep), "--group-by"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[0] == "model" and "seed" not in header and "stability_ari" in header


@pytest.mark.parametrize("args, message", [
    (["--group-by", "colour"], "--group-by: no column 'colour'"),
    (["--metric", "accuracy"], "--metric: no column 'accuracy'"),
])
def test_cli_unknown_names_give_one_clear_error(sweep, capsys, args, message):
    assert main([str(sweep), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "Available:" in err and "Traceback" not in err


def test_cli_without_runs(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "no finished runs under" in capsys.readouterr().err
    assert main([str(tmp_path / "missing")]) == 2
    assert "is not a directory" in capsys.readouterr().err


@pytest.mark.parametrize("model", ["beta_vae", "pca"])
def test_a_failed_runs_settings_are_read_from_its_config_like_a_finished_runs(tmp_path, model):
    """A failed job's settings equal what the pipeline records for that config, so it lands in its cell
    (for PCA: no backbone, reducer none), except the normalization policy that only a run works out."""
    from tests.conftest import compose_config

    cfg = compose_config([f"model={model}", "k=4", "seed=3"], tmp_path / "run")
    recorded = settings_of(cfg, k=4, normalization="standard")
    hydra_dir = tmp_path / "failed" / ".hydra"
    hydra_dir.mkdir(parents=True)
    OmegaConf.save(cfg, hydra_dir / "config.yaml")
    (tmp_path / "failed" / "error.txt").write_text("ConfigError: boom\n")
    settings, _, status = compare.read_run(tmp_path / "failed")
    assert status["status"] == "failed"
    for name in SETTING_NAMES:
        if name != "normalization":
            assert settings[name] == recorded[name], name


def test_compare_imports_no_torch(tmp_path):
    """musiclust-compare (and the sweep callback, loaded in every sweep's launcher) never import torch or Lightning,
    even when they write charts and the HTML report."""
    write_run(tmp_path / "runs" / "0", "vae", 0, 0.5)
    write_run(tmp_path / "runs" / "1", "vae", 1, 0.7)
    script = ("import sys\nimport musiclust.sweep\nfrom musiclust.compare import main\n"
              f"code = main([{str(tmp_path / 'runs')!r}, '--group-by', '--out', {str(tmp_path / 'cmp')!r}, "
              f"'--html', {str(tmp_path / 'report.html')!r}])\n"
              "heavy = sorted(m for m in ('torch', 'pytorch_lightning', 'lightning') if m in sys.modules)\n"
              "print('heavy:', heavy)\nsys.exit(code)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "heavy: []" in proc.stdout
    assert (tmp_path / "report.html").is_file() and (tmp_path / "cmp_nmi.png").is_file()


def test_cli_when_every_run_failed_lists_the_failures(tmp_path, capsys):
    write_run(tmp_path / "0", "vae", 0, None, error="ConfigError: conv2d needs (C,F,T) features. Use backbone=mlp.\n")
    write_run(tmp_path / "1", "ae", 0, None, error="DataError: features of 3 songs contain NaN/inf (first: s1).\n")
    assert main([str(tmp_path)]) == 1
    captured = capsys.readouterr()
    assert "conv2d needs" in captured.out and "contain NaN/inf" in captured.out
    assert "2 of 2 runs failed" in captured.err and "Traceback" not in captured.err + captured.out


def test_sweep_comparison_lists_every_job_of_this_sweep_only(sweep):
    now = time.time()
    leftover = write_run(sweep / "6", "raw", 0, 0.4)  # from an earlier, larger sweep in the same dir
    os.utime(leftover / ".hydra" / "overrides.yaml", (now - 3600, now - 3600))
    table_path, summary_path, n_jobs, n_failed = write_sweep_comparison(sweep, "easy", since=now - 60)
    assert (n_jobs, n_failed) == (6, 2)  # one failed, one interrupted
    table = pd.read_csv(table_path)
    assert [Path(p).name for p in table["run_dir"]] == ["0", "1", "2", "3", "4", "5"]  # job order, one row each
    assert list(table["status"]) == ["ok", "ok", "failed", "ok", "ok", "incomplete"]
    assert table_path.name == "easy_comparison.csv" and summary_path.name == "easy_comparison_summary.csv"
    assert sorted(pd.read_csv(summary_path)["model"]) == ["pca", "vae"]


def test_compare_modules_import_only_the_layers_above_them():
    """runs → columns → aggregate → comparison → render → report → cli: no module reaches down, so no cycle."""
    import ast

    layers = ["runs", "columns", "aggregate", "comparison", "render", "report", "cli"]
    package = Path(compare.__file__).parent
    for position, name in enumerate(layers):
        tree = ast.parse((package / f"{name}.py").read_text(encoding="utf-8"))
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        below = {m.removeprefix("musiclust.compare.") for m in imported if m.startswith("musiclust.compare.")}
        assert below <= set(layers[:position]), (name, below)
        assert "musiclust.compare" not in imported, name  # the package itself re-exports every layer


# ----------------------------------------------------------------------------------------------- readable output
LONG_OVERRIDES = ["model.optimizer.betas=[0.9,0.999]", "+trainer.gradient_clip_val=0.5", "model.kl_warmup_epochs=10",
                  "model.active_threshold=0.01", "backbone.hidden_dims=[512,256,128,64]", "feature.n_mfcc=40"]


@pytest.fixture
def wide_runs(tmp_path) -> Path:
    """Runs that differ in many override keys with long values, and carry every metric and a long kl_per_dim."""
    root = tmp_path / "runs"
    metrics = {"ami": 0.4, "purity": 0.6, "calinski_harabasz": 123.4, "davies_bouldin": 1.2, "coverage": 1.0,
               "active_dims": 8192, "kl_per_dim": ";".join(["0.01234"] * 64)}
    for i in range(4):
        overrides = [o.replace("=", f"={i}") if i else o for o in LONG_OVERRIDES]
        write_run(root / str(i), "vae", i, 0.3 + i / 10, overrides=overrides, lr=10.0 ** -(i + 2), extra=metrics)
    return root


def test_printed_table_fits_120_columns_with_the_sort_metric_first(wide_runs, capsys):
    assert main([str(wide_runs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 120
    header = lines[0].split()
    # the seed and the six override keys (by their last part), then the sort metric
    assert header[:8] == ["seed", "betas", "gradient_clip_val", "kl_warmup_epochs", "active_threshold", "hidden_dims",
                          "n_mfcc", "nmi"]
    assert "kl_per_dim" not in header and "run_dir" not in header
    assert any(line.startswith("settings: betas = model.optimizer.betas") for line in lines)
    assert any(line.startswith("not shown to fit 120 columns:") for line in lines)


def test_every_printed_row_fits_120_columns_not_only_the_header(wide_runs, capsys):
    for run in sorted(wide_runs.iterdir()):  # run names far longer than the "run" header
        run.rename(wide_runs / f"{'a_long_run_directory_name_' * 2}{run.name}")
    assert main([str(wide_runs)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 120, max(lines, key=len)
    assert lines[0].split()[7] == "nmi"  # the sort metric stays


def test_columns_asks_for_more(wide_runs, capsys):
    assert main([str(wide_runs), "--columns", "kl_per_dim", "run_dir", "--metrics", "nmi"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header[-2:] == ["kl_per_dim", "run_dir"] and "silhouette" not in header
    assert main([str(wide_runs), "--columns", "all"]) == 0
    assert "kl_per_dim" in capsys.readouterr().out
    assert main([str(wide_runs), "--columns", "colour"]) == 2
    assert "--columns: no column 'colour'" in capsys.readouterr().err


@pytest.fixture
def charts(monkeypatch):
    """The figures the comparison charts would save, by file name."""
    from musiclust.compare import render

    saved = {}
    monkeypatch.setattr(render, "save_figure", lambda figure, path: saved.setdefault(Path(path).name, figure))
    yield saved
    import matplotlib.pyplot as plt

    plt.close("all")


def test_bars_are_labelled_key_value_best_first_one_panel_per_label_col(charts):
    summary = pd.DataFrame({"model": ["vae", "pca", "raw", "vae", "pca"], "label_col": ["genre"] * 3 + ["language"] * 2,
                            "nmi_mean": [0.2, 0.6, 0.4, 0.9, 0.1], "nmi_std": [0.01] * 5,
                            "davies_bouldin_mean": [1.5, 0.5, 1.0, 2.0, 0.7], "davies_bouldin_std": [0.1] * 5})
    compare.plot_metric_bars(summary, ["model", "label_col"], "nmi", "nmi.png")
    genre, language = charts["nmi.png"].axes
    assert [t.get_text() for t in genre.get_yticklabels()] == ["model=pca", "model=raw", "model=vae"]
    assert [t.get_text() for t in language.get_yticklabels()] == ["model=vae", "model=pca"]
    assert (genre.get_title(loc="left"), language.get_title(loc="left")) == ("label_col=genre", "label_col=language")
    compare.plot_metric_bars(summary, ["model", "label_col"], "davies_bouldin", "db.png")
    (single,) = charts["db.png"].axes  # not a label-based score: one axis, lower is better on top
    assert [t.get_text() for t in single.get_yticklabels()][:2] == ["model=pca, label_col=genre",
                                                                    "model=pca, label_col=language"]


def test_comparison_says_when_k_or_label_col_differ(tmp_path):
    write_run(tmp_path / "a", "vae", 0, 0.5, k=3)
    write_run(tmp_path / "b", "vae", 0, 0.6, k=6, overrides=["k=6"])
    write_run(tmp_path / "c", "vae", 0, 0.7, k=6, label_col="language", overrides=["k=6", "label_col=language"])
    notes = compare.compare([tmp_path]).notes()
    assert any("different label columns (genre, language)" in n for n in notes)
    assert any("different numbers of clusters (k = 3, 6)" in n for n in notes)


def test_active_dims_is_left_out_of_the_default_charts(wide_runs, tmp_path):
    out = tmp_path / "cmp"
    assert main([str(wide_runs), "--out", str(out)]) == 0
    assert (tmp_path / "cmp_nmi.png").is_file() and not (tmp_path / "cmp_active_dims.png").exists()
    assert main([str(wide_runs), "--metrics", "nmi", "active_dims", "--out", str(out)]) == 0
    assert (tmp_path / "cmp_active_dims.png").is_file()  # when asked for


def test_elbow_of_the_kmeans_inertia_finds_the_blobs():
    from sklearn.cluster import KMeans
    from sklearn.datasets import make_blobs

    z, _ = make_blobs(n_samples=400, centers=4, cluster_std=0.6, random_state=0)
    ks = list(range(2, 11))
    inertia = [KMeans(n_clusters=k, n_init=4, random_state=0).fit(z).inertia_ for k in ks]
    assert compare.render.elbow(ks, inertia) == 4
    assert compare.render.elbow([2, 3], [5.0, 1.0]) is None


def test_a_sweep_over_k_writes_the_k_curve(tmp_path, charts):
    root = tmp_path / "multirun" / "k"
    for i, k in enumerate(range(2, 8)):
        for seed in (0, 1):
            write_run(root / str(2 * i + seed), "pca", seed, 0.5, k=k, overrides=[f"k={k}"],
                      extra={"calinski_harabasz": 10.0 * k, "coverage": 1.0, "inertia": 100.0 / k})
    outcome = write_sweep_comparison(root, "multirun", metric="silhouette")
    assert outcome.n_jobs == 12
    figure = charts["multirun_k_curve.png"]
    titles = [ax.get_title().split("\n")[0] for ax in figure.axes]
    assert titles == ["silhouette", "calinski_harabasz", "coverage", "inertia"]
    inertia = figure.axes[3]
    assert list(inertia.get_lines()[0].get_xdata()) == list(range(2, 8))
    assert any(t.get_text().startswith("elbow k=") for t in inertia.texts)
