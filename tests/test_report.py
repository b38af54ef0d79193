"""The HTML report: one self-contained, small file that leads with the sort metric, shows every run's metrics beside
its plots, an interactive embedding, what each cluster is (members, n-grams, playable clips) and a hyperparameter
view. Parsed here (no browser needed)."""

import base64
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from musiclust.compare import compare, main, write_report
from musiclust.compare.report import IMAGE_SECTIONS, MAX_POINTS
from musiclust.jobs import run_and_report
from tests.test_compare import write_run

IMAGE_HEADERS = (b"\x89PNG\r\n\x1a\n", b"RIFF")  # PNG, or WebP (RIFF....WEBP)


class ReportParser(HTMLParser):
    """Collects the rows and headers of each table, every <img> and <audio>, the inline JSON data, the metrics
    table of each run section, and every external reference."""

    def __init__(self) -> None:
        super().__init__()
        self.table_rows: dict[str, int] = {}
        self.headers: dict[str, list[str]] = {}
        self.images: list[dict[str, str]] = []
        self.audio: list[tuple[str, str]] = []  # (run section, src)
        self.data: dict[str, object] = {}
        self.metrics: dict[str, dict[str, str]] = {}
        self.section_text: dict[str, str] = {}
        self.external: list[str] = []
        self.scripts = 0
        self.tags: set[str] = set()
        self.text = ""
        self._table: str | None = None
        self._in_body = self._in_th = False
        self._json: str | None = None
        self._section: str | None = None
        self._cells: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "section":
            self._section = attrs.get("id")
            self.section_text[self._section] = ""
        elif tag == "table":
            self._table = attrs.get("id") or attrs.get("class", "")
            if attrs.get("class") == "metrics":
                self.metrics[self._section] = {}
            self.table_rows.setdefault(self._table, 0)
            self.headers.setdefault(self._table, [])
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.table_rows[self._table] += 1
            self._cells = []
        elif tag == "td" and self._cells is not None:
            self._cells.append("")
        elif tag == "th":
            self._in_th = True
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "audio":
            self.audio.append((self._section, attrs.get("src", "")))
        elif tag == "script":
            if attrs.get("type") == "application/json":
                self._json = attrs["id"]
                self.data[self._json] = ""
            else:
                self.scripts += 1
        for key in ("src", "href"):
            value = attrs.get(key) or ""
            if value and not value.startswith(("data:", "#")):
                self.external.append(value)

    def handle_endtag(self, tag):
        if tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None
        elif tag == "th":
            self._in_th = False
        elif tag == "tr" and self._cells is not None:
            if self._table == "metrics" and len(self._cells) == 2:
                self.metrics[self._section][self._cells[0]] = self._cells[1]
            self._cells = None
        elif tag == "script" and self._json is not None:
            self.data[self._json] = json.loads(self.data[self._json])
            self._json = None

    def handle_data(self, data):
        if self._json is not None:
            self.data[self._json] += data
            return
        self.text += data
        if self._section is not None:
            self.section_text[self._section] += data
        if self._cells:
            self._cells[-1] += data.strip()
        if self._in_th and self._table is not None:
            self.headers[self._table].append(data)


@pytest.fixture(scope="module")
def three_runs(demo_root, shared_cache, tmp_path_factory) -> Path:
    """Two seeds of PCA + k-means (one cell) and one VAE run (it has reconstructions)."""
    from threadpoolctl import threadpool_limits

    from tests.conftest import compose_config, tiny_overrides

    root = tmp_path_factory.mktemp("report_runs")
    base = [*tiny_overrides(demo_root, shared_cache), "outputs.distributions.columns=[genre]"]
    for name, overrides in (("pca_s1", ["model=pca", "seed=1"]), ("pca_s2", ["model=pca", "seed=2"]),
                            ("vae", ["model.latent_dim=4", "trainer.max_epochs=2"])):
        with threadpool_limits(1):  # t-SNE of 36 points: OpenMP threads only contend on a busy machine
            run_and_report(compose_config([*base, *overrides], root / name))  # as musiclust runs it: marked finished
    return root


def parse(path: Path) -> ReportParser:
    parser = ReportParser()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_report_has_one_row_per_run_and_embeds_every_plot(three_runs, tmp_path):
    comparison = compare([three_runs], metrics=["nmi", "acc", "silhouette"])
    path = write_report(comparison, tmp_path / "report.html")
    report = parse(path)
    assert report.table_rows["runs"] == 3  # one row per run, no duplicates
    assert {"model", "seed", "nmi", "acc", "status"} <= set(report.headers["runs"])
    assert report.table_rows["summary"] == 2  # pca cell (2 seeds) and vae cell
    assert "stability_ari" in report.headers["summary"]
    assert report.external == []  # nothing outside the file: opens without a server or network
    assert report.scripts == 1  # one script draws every view from inline JSON
    files = {folder: sum(len(list((three_runs / run / folder).glob("*.png"))) for run in ("pca_s1", "pca_s2", "vae"))
             for folder, _ in IMAGE_SECTIONS}
    # projection + genre bars + contingency per run, reconstructions for the VAE
    assert files == {"latent_visualization": 3, "cluster_distributions": 6, "reconstructions": 1}
    # every plot is a thumbnail, but the projection, which is drawn interactively from its points
    assert len(report.images) == files["cluster_distributions"] + files["reconstructions"] + 3  # + 3 bar charts
    for image in report.images:
        assert image["src"].startswith(("data:image/png;base64,", "data:image/webp;base64,"))
        assert base64.b64decode(image["src"].split(",", 1)[1]).startswith(IMAGE_HEADERS)
    captions = [image["alt"] for image in report.images]
    assert captions.count("Reconstruction: recon_examples") == 1
    assert captions.count("Cluster distribution: contingency_genre") == 3
    assert {"nmi", "acc", "silhouette"} <= set(captions)


def test_report_leads_with_the_sort_metric(three_runs, tmp_path):
    report = parse(write_report(compare([three_runs], metric="silhouette"), tmp_path / "report.html"))
    headers = report.headers["runs"]
    assert headers[:6] == ["model", "backbone", "seed", "latent_dim", "beta", "silhouette"]  # after the settings
    assert "Sorted by silhouette (higher is better)" in report.text
    assert "kl_per_dim" not in headers and "run_dir" not in headers
    for section, metrics in report.metrics.items():  # beside each run's plots: its metrics
        assert list(metrics)[0] == "silhouette" and {"nmi", "coverage", "sanity"} <= set(metrics), section


def test_each_run_shows_its_embedding_clusters_and_clips(three_runs, tmp_path):
    report = parse(write_report(compare([three_runs]), tmp_path / "report.html", clip_runs=1))
    assert len(report.metrics) == 3
    for name in ("pca_s1", "pca_s2", "vae"):
        run = three_runs / name
        with np.load(run / "latents.npz") as latents:
            truth = dict(zip(latents["ids"], latents["clusters"], strict=True))
        section = next(key for key, text in report.section_text.items() if f"{run} — status: ok" in text)
        points = report.data[f"{section}-points"]
        fields = points["fields"]
        assert len(points["id"]) == len(truth) <= MAX_POINTS
        clusters = [fields["cluster"]["values"][c] for c in fields["cluster"]["codes"]]
        assert clusters == [f"c{truth[i]}" for i in points["id"]]  # hover shows the song's own cluster
        table = pd.read_csv(run / "clusters.csv")
        assert fields["cluster"]["colours"] == dict(zip(table["cluster_name"], table["colour"], strict=True))
        assert list(fields) == ["cluster", "genre", "language"]  # the label_col (coloured) and the plot_columns
        assert "colours" in fields["genre"] and "colours" not in fields["language"]
        assert 0 <= min(points["x"]) and max(points["x"]) <= 1000
    assert report.table_rows["clusters"] == 3 * 6  # k=6: one row per cluster per run
    assert "c-TF-IDF" in report.text and "song_00" in report.text
    best = next(iter(report.metrics))  # clips only in the best run (clip_runs=1)
    assert report.audio and {section for section, _ in report.audio} == {best}
    for _, src in report.audio:
        assert src.startswith("data:audio/ogg;base64,") and base64.b64decode(src.split(",", 1)[1])[:4] == b"OggS"
    assert "embedded for the 1 best runs only" in report.text


def test_hyperparameter_view_has_one_line_per_run(three_runs, tmp_path):
    report = parse(write_report(compare([three_runs]), tmp_path / "report.html"))
    view = report.data["hyper-data"]
    assert [axis["name"] for axis in view["axes"]] == ["model", "backbone", "latent_dim", "beta", "nmi"]
    assert view["axes"][-1]["metric"] and len(view["runs"]) == 3
    assert {line["a"] for line in view["runs"]} == {f"run-{i}" for i in range(3)}


def test_a_26_run_report_stays_small(three_runs, tmp_path):
    """26 runs with every output of a real run (plots, clusters, clips, points): well under 2 MB."""
    rng = np.random.default_rng(0)
    sources = ["pca_s1", "pca_s2", "vae"]
    for i in range(26):
        run = tmp_path / "sweep" / str(i)
        shutil.copytree(three_runs / sources[i % 3], run)
        metrics = pd.read_csv(run / "clustering_metrics.csv")
        metrics["seed"], metrics["nmi"], metrics["clusterer"] = i, rng.uniform(0.2, 0.9), ["kmeans", "gmm"][i % 2]
        metrics.to_csv(run / "clustering_metrics.csv", index=False)
        OmegaConf.save([f"seed={i}"], run / ".hydra" / "overrides.yaml")
    path = write_report(compare([tmp_path / "sweep"]), tmp_path / "report.html")
    size = path.stat().st_size
    report = parse(path)
    assert report.table_rows["runs"] == 26 and len(report.metrics) == 26
    assert size < 1_000_000, f"{size / 1e6:.2f} MB"  # tiny runs; the 180-song demo's 27-run sweep: ≈ 1.3 MB
    assert len(report.audio) == 2 * 2 * 6  # clips of the 2 best runs (default), 2 per cluster
    headers = report.headers["runs"]
    assert headers[headers.index("nmi") - 1] == "beta"  # first column after the settings: the sort metric


def test_cli_html_flag(three_runs, tmp_path, capsys):
    out = tmp_path / "nested" / "report.html"
    assert main([str(three_runs / "pca_s1"), str(three_runs / "vae"), "--html", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    report = parse(out)
    assert report.table_rows["runs"] == 2 and "summary" not in report.table_rows  # one run per cell


def test_text_from_run_dirs_is_escaped(tmp_path):
    """Errors and settings are shown as text, never as markup (the template autoescapes; inline JSON escapes <)."""
    write_run(tmp_path / "runs" / "0", "vae", 0, 0.5, overrides=["+note=<i>x</i>"])
    write_run(tmp_path / "runs" / "2", "vae", 0, 0.6, overrides=["+note=</script><b>y</b>"])
    error = "DataError: <script>alert(1)</script> & <b>bold</b> \"quoted\"\n"
    write_run(tmp_path / "runs" / "1", "vae", 1, None, error=error)
    report = parse(write_report(compare([tmp_path / "runs"]), tmp_path / "report.html"))
    assert report.scripts == 1 and report.tags.isdisjoint({"b", "i"})
    assert error.strip() in report.text and "note=<i>x</i>" in report.text
    assert {line["t"] for line in report.data["hyper-data"]["runs"]} == {"note=<i>x</i>", "note=</script><b>y</b>"}
