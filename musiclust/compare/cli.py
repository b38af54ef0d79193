"""``musiclust-compare DIR [DIR ...]``: compare finished runs across output dirs (exit 0; 1 when every run failed;
2 on bad input)."""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from collections.abc import Sequence

from musiclust._version import __version__
from musiclust.compare.columns import DEFAULT_METRICS
from musiclust.compare.comparison import compare
from musiclust.compare.render import terminal_table, write_outputs
from musiclust.compare.report import CLIP_RUNS, write_report
from musiclust.errors import MusiclustError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="musiclust-compare",
        description="Compare musiclust runs across output dirs (single runs and sweeps, any day or task).",
        epilog="Example: musiclust-compare outputs/multirun/2024-05-01_10-00-00_easy outputs/runs "
               "--group-by --metric nmi --out results/compare",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("dirs", nargs="+", help="run dirs or dirs containing runs (searched recursively)")
    parser.add_argument("--metric", default=None, help="sort by this metric (default: nmi, else silhouette)")
    parser.add_argument("--metrics", nargs="+", default=None,
                        help=f"metrics to show and plot (default: those of {', '.join(DEFAULT_METRICS)} present)")
    parser.add_argument("--group-by", nargs="*", default=None, metavar="KEY",
                        help="aggregate runs that share these settings to mean ± std (+ stability = pairwise ARI "
                             "between their clusters); with no KEY: every varying setting except seed")
    parser.add_argument("--out", default=None, metavar="PATH",
                        help="write PATH.csv, PATH.md and PATH_{metric}.png bar charts with error bars")
    parser.add_argument("--no-plots", action="store_true", help="with --out: skip the bar charts")
    parser.add_argument("--include-debug", action="store_true",
                        help="also compare debug runs (trainer.fast_dev_run), marked in a debug column")
    parser.add_argument("--html", default=None, metavar="PATH",
                        help="write one self-contained HTML report: sortable table, metric charts, every run's plots, "
                             "clusters, an interactive embedding and a hyperparameter view")
    parser.add_argument("--clip-runs", type=int, default=CLIP_RUNS, metavar="N",
                        help=f"with --html: embed the audio clips of the N best runs (default {CLIP_RUNS}; the file "
                             "grows by about 50 kB per run)")
    parser.add_argument("--width", type=int, default=120,
                        help="the printed table's width in characters (default 120): metrics that do not fit are "
                             "named below it")
    parser.add_argument("--columns", nargs="+", default=None, metavar="NAME",
                        help="also print these columns (e.g. run_dir kl_per_dim), or all: every column")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="musiclust-compare: %(levelname)s: %(message)s")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the logger already names incomplete runs
            comparison = compare(args.dirs, metric=args.metric, group_by=args.group_by, metrics=args.metrics,
                                 include_debug=args.include_debug)
        lines, notes = terminal_table(comparison, width=args.width, columns=args.columns)
        print("\n".join(lines))
        for note in notes:
            print(note)
        if debug_runs := comparison.runs.attrs.get("debug_runs"):
            print(f"musiclust-compare: left out {len(debug_runs)} debug run(s) (trainer.fast_dev_run): "
                  f"{', '.join(debug_runs)}; add --include-debug to compare them", file=sys.stderr)
        if not comparison.metrics:
            print(f"musiclust-compare: error: {len(comparison.runs)} of {len(comparison.runs)} runs failed or did "
                  "not finish; nothing to compare (their errors are listed above)", file=sys.stderr)
            return 1
        if args.out:
            for path in write_outputs(comparison, args.out, plots=not args.no_plots):
                print(f"wrote {path}")
        if args.html:
            print(f"wrote {write_report(comparison, args.html, sources=args.dirs, clip_runs=args.clip_runs)}")
    except MusiclustError as err:
        print(f"musiclust-compare: error: {err}", file=sys.stderr)
        return 2
    return 0
