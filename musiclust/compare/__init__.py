"""Compare finished runs across output directories: ``musiclust-compare DIR [DIR ...]``.

One job per module, imported in this order (each uses only those above it):

- :mod:`~musiclust.compare.runs` — find run dirs and read each into one row: settings, metrics, status, error.
- :mod:`~musiclust.compare.columns` — which columns are settings, metrics or notes; the per-run table; sorting.
- :mod:`~musiclust.compare.aggregate` — mean ± std over the runs of each group; stability (pairwise ARI).
- :mod:`~musiclust.compare.comparison` — :func:`compare` → :class:`Comparison`, what the CLI shows, as data.
- :mod:`~musiclust.compare.render` — rounded tables, Markdown, bar charts, the ``--out`` files.
- :mod:`~musiclust.compare.report` — the self-contained HTML report (``templates/report.html.j2``).
- :mod:`~musiclust.compare.cli` — the ``musiclust-compare`` command.

The sweep callback (:mod:`musiclust.sweep`) writes its tables with the same functions. Nothing here imports torch.
"""

from musiclust.compare.aggregate import aggregate, cluster_assignments, pairwise_ari, stability, summarize
from musiclust.compare.cli import build_parser, main
from musiclust.compare.columns import (
    DEFAULT_METRICS,
    LOWER_IS_BETTER,
    check_columns,
    choose_metrics,
    default_group_by,
    info_columns,
    metric_columns,
    run_table,
    setting_columns,
    sort_rows,
    varying_settings,
)
from musiclust.compare.comparison import Comparison, compare
from musiclust.compare.render import (
    display_frame,
    elbow,
    output_stem,
    plot_k_curve,
    plot_metric_bars,
    terminal_table,
    to_markdown,
    write_outputs,
)
from musiclust.compare.report import render_report, write_report
from musiclust.compare.runs import STATUS_COLUMNS, error_summary, find_runs, iter_run_dirs, read_run, run_status

__all__ = [
    "DEFAULT_METRICS", "LOWER_IS_BETTER", "STATUS_COLUMNS", "Comparison", "aggregate", "build_parser",
    "check_columns", "choose_metrics", "cluster_assignments", "compare", "default_group_by", "display_frame",
    "elbow", "error_summary", "find_runs", "info_columns", "iter_run_dirs", "main", "metric_columns", "output_stem",
    "pairwise_ari", "plot_k_curve", "plot_metric_bars", "read_run", "render_report", "run_status", "run_table",
    "setting_columns", "sort_rows", "stability", "summarize", "terminal_table", "to_markdown", "varying_settings",
    "write_outputs", "write_report",
]
