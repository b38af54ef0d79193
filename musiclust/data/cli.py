"""``musiclust-data``: prepare datasets (generate the demo, download JamendoLyrics, clean lyrics)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from musiclust._version import __version__
from musiclust.errors import MusiclustError

COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], Callable[[argparse.Namespace], str]], str]] = {}


def command(name: str, help_text: str):
    """Register a sub-command: the decorated function adds arguments and returns the handler."""

    def register(add_arguments):
        COMMANDS[name] = (add_arguments, help_text)
        return add_arguments

    return register


@command("demo", "generate the embedded demo dataset (deterministic, no network)")
def _demo(parser: argparse.ArgumentParser):
    parser.add_argument("--out", default="data/demo", help="output folder (default: data/demo)")
    parser.add_argument("--n", type=int, default=180, help="number of songs (default: 180)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per song")
    parser.add_argument("--sr", type=int, default=22050)

    def run(args: argparse.Namespace) -> str:
        from musiclust.data.demo import generate_demo

        path = generate_demo(args.out, n_songs=args.n, seed=args.seed, sr=args.sr, duration=args.duration)
        return f"wrote {args.n} songs and {path}"

    return run


@command("jamendo", "download JamendoLyrics (metadata, lyrics, mp3) from the Hugging Face Hub")
def _jamendo(parser: argparse.ArgumentParser):
    parser.add_argument("--language", default="all",
                        help="English, German, French, Spanish (or en/de/fr/es), or all (default: all)")
    parser.add_argument("--out", default="data/jamendo", help="output folder (default: data/jamendo)")
    parser.add_argument("--repo", default=None,
                        help="dataset repository on the Hub (default: jamendolyrics/jamendolyrics)")
    parser.add_argument("--revision", default=None, help="branch, tag or commit (default: main)")

    def run(args: argparse.Namespace) -> str:
        from musiclust.data.jamendo import REPO_ID, download_jamendo

        out, n_songs = download_jamendo(args.out, language=args.language, repo_id=args.repo or REPO_ID,
                                        revision=args.revision)
        return (f"downloaded {n_songs} songs ({args.language}) into {out}; "
                f"use: musiclust dataset=jamendo dataset.path={out}")

    return run


@command("clean-lyrics", "add lyrics_clean (and the language detected from the lyrics) to a manifest CSV")
def _clean_lyrics(parser: argparse.ArgumentParser):
    parser.add_argument("manifest", help="CSV with a lyrics column")
    parser.add_argument("--out", default=None, help="output CSV (default: <manifest>.clean.csv next to it)")
    parser.add_argument("--column", default="lyrics", help="column holding the lyrics (default: lyrics)")
    parser.add_argument("--language-detector", choices=["lingua", "script", "none"], default="lingua",
                        help="fill missing `language` values from the lyrics: lingua (ISO 639-1 codes), script "
                             "(the writing system: Latin / Bengali / other) or none (default: lingua)")
    parser.add_argument("--candidates", nargs="+", default=None, metavar="CODE",
                        help="lingua's languages as ISO 639-1 codes, or all (default: en bn de it fr es la pt nl hi)")
    parser.add_argument("--threshold", type=float, default=0.6,
                        help="share the dominant language (lingua) or script needs; below it: mixed (default: 0.6)")

    def run(args: argparse.Namespace) -> str:
        from pathlib import Path

        import pandas as pd

        from musiclust.columns import CLEAN_LYRICS, LANGUAGE_SOURCE
        from musiclust.data.language import NONE, candidate_codes, fill_language
        from musiclust.data.lyrics import add_clean_lyrics
        from musiclust.errors import DataError
        from musiclust.io import write_csv

        source = Path(args.manifest)
        if not source.is_file():
            raise DataError(f"no such CSV file '{source}'.")
        try:
            frame = pd.read_csv(source, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
            raise DataError(f"{source}: cannot be read as CSV ({type(err).__name__}). Save it as UTF-8 CSV.") from err
        if args.column not in frame.columns:
            raise DataError(f"{source}: no column '{args.column}' (columns: {', '.join(frame.columns)}). "
                            "Name the lyrics column with --column.")
        frame = add_clean_lyrics(frame, args.column)
        summary = f"{(frame[CLEAN_LYRICS] == '').sum()} empty after cleaning"
        if args.language_detector != NONE:
            candidates = args.candidates[0] if args.candidates and len(args.candidates) == 1 else args.candidates
            if args.language_detector == "lingua":
                candidates = candidate_codes(candidates, "--candidates")
            frame = fill_language(frame, CLEAN_LYRICS, args.threshold, args.language_detector, candidates)
            sources = frame[LANGUAGE_SOURCE].value_counts()
            summary += ", language from " + ", ".join(f"{source}: {n}" for source, n in sources.items())
        out = Path(args.out) if args.out else source.with_name(f"{source.stem}.clean.csv")
        write_csv(frame, out)
        return f"wrote {len(frame)} rows with {CLEAN_LYRICS} to {out} ({summary})"

    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="musiclust-data", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    handlers = {}
    for name, (add_arguments, help_text) in COMMANDS.items():
        handlers[name] = add_arguments(sub.add_parser(name, help=help_text))
    args = parser.parse_args(argv)
    try:
        print(handlers[args.command](args))
    except (MusiclustError, ValueError, OSError) as err:
        print(f"musiclust-data {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
