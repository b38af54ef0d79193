"""``musiclust-data``: prepare datasets (``demo`` now; more sub-commands are added per dataset)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="musiclust-data", description=__doc__)
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
