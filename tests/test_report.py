"""The HTML report: one self-contained file whose table rows are the runs and whose images are all embedded."""

import base64
from html.parser import HTMLParser
from pathlib import Path

import pytest

from musiclust.compare import compare, main, write_report
from musiclust.compare.report import IMAGE_SECTIONS
from musiclust.jobs import run_and_report
from tests.test_compare import write_run


class ReportParser(HTMLParser):
    """Collects the rows of each table, every <img> and every external reference."""

    def __init__(self) -> None:
        super().__init__()
        self.table_rows: dict[str, int] = {}
        self.headers: dict[str, list[str]] = {}
        self.images: list[dict[str, str]] = []
        self.external: list[str] = []
        self.scripts = 0
        self.tags: set[str] = set()
        self.text = ""
        self._table: str | None = None
        self._in_body = self._in_th = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.add(tag)
        if tag == "table":
            self._table = attrs.get("id", "")
            self.table_rows[self._table], self.headers[self._table] = 0, []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body:
            self.table_rows[self._table] += 1
        elif tag == "th":
            self._in_th = True
        elif tag == "img":
            self.images.append(attrs)
        elif tag == "script":
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

    def handle_data(self, data):
        self.text += data
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
    assert report.scripts == 1
    run_plots = sum(len(list((three_runs / run / folder).glob("*.png")))
                    for run in ("pca_s1", "pca_s2", "vae") for folder, _ in IMAGE_SECTIONS)
    assert run_plots == 3 * 2 + 1  # projection + genre distribution per run, reconstructions for the VAE
    assert len(report.images) == run_plots + 3  # + one bar chart per metric
    for image in report.images:
        assert image["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(image["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    captions = [image["alt"] for image in report.images]
    assert captions.count("Reconstruction: recon_examples") == 1
    assert {"nmi", "acc", "silhouette"} <= set(captions)


def test_cli_html_flag(three_runs, tmp_path, capsys):
    out = tmp_path / "nested" / "report.html"
    assert main([str(three_runs / "pca_s1"), str(three_runs / "vae"), "--html", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    report = parse(out)
    assert report.table_rows["runs"] == 2 and "summary" not in report.table_rows  # one run per cell


def test_text_from_run_dirs_is_escaped(tmp_path):
    """Errors and settings are shown as text, never as markup (the template autoescapes)."""
    write_run(tmp_path / "runs" / "0", "vae", 0, 0.5, overrides=["+note=<i>x</i>"])
    error = "DataError: <script>alert(1)</script> & <b>bold</b> \"quoted\"\n"
    write_run(tmp_path / "runs" / "1", "vae", 1, None, error=error)
    report = parse(write_report(compare([tmp_path / "runs"]), tmp_path / "report.html"))
    assert report.scripts == 1 and report.tags.isdisjoint({"b", "i"})
    assert error.strip() in report.text and "note=<i>x</i>" in report.text
