"""Shared helpers: run a command in a fresh process and measure its wall time and peak memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
#: generated datasets, caches and run dirs (git-ignored)
WORK = REPO / "benchmarks" / "work"
RESULTS = REPO / "benchmarks" / "results.md"
#: marks the line a benchmark child prints its measurements on
RESULT_PREFIX = "BENCH-RESULT "


@dataclass
class Measurement:
    """One process tree: wall time, peak RSS of the main process (exact) and of the whole tree (sampled)."""

    wall_s: float
    main_peak_mb: float
    tree_peak_mb: float
    returncode: int
    output: str
    result: dict[str, Any] = field(default_factory=dict)

    def check(self) -> Measurement:
        if self.returncode != 0:
            raise RuntimeError(f"benchmark process failed (exit {self.returncode}):\n{self.output[-4000:]}")
        return self


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(parent, []).append(int(entry))
    return tree


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def tree_rss_mb(root: int) -> float:
    """Sum of the resident memory of ``root`` and all its descendants (shared pages counted per process)."""
    tree, total, todo = _children(), 0.0, [root]
    while todo:
        pid = todo.pop()
        total += _rss_mb(pid)
        todo.extend(tree.get(pid, []))
    return total


def measure(args: list[str], env: dict[str, str] | None = None, cwd: Path = REPO, interval: float = 0.1,
            timeout: float = 900) -> Measurement:
    """Run ``args`` in a fresh process; peak RSS of the main process comes from ``wait4`` (exact), that of
    the process tree (main + worker processes) from sampling /proc every ``interval`` seconds.
    """
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore", **(env or {})}
    with tempfile.TemporaryFile(mode="w+") as out:
        start = time.perf_counter()
        process = subprocess.Popen(args, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        tree_peak = 0.0
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                process.kill()
            tree_peak = max(tree_peak, tree_rss_mb(process.pid))
            time.sleep(interval)
        wall = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        output = out.read()
    main_peak = usage.ru_maxrss / 1024  # kB on Linux
    result = {}
    for line in output.splitlines():
        if line.startswith(RESULT_PREFIX):
            result.update(json.loads(line[len(RESULT_PREFIX):]))
    return Measurement(wall, main_peak, max(tree_peak, main_peak), process.returncode, output, result)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def report(values: dict[str, Any]) -> None:
    """Print a child's measurements for :func:`measure` to pick up."""
    print(RESULT_PREFIX + json.dumps(values), flush=True)


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def demo_root(n_songs: int, duration: float = 4.0) -> Path:
    """A generated demo set in benchmarks/work (made once; the generator is deterministic)."""
    from musiclust.data.demo import DemoDataset

    root = WORK / f"demo{n_songs}"
    DemoDataset(root=str(root), n_songs=n_songs, seed=0, sr=22050, duration=duration).load()
    return root


def fmt_ratio(value: float) -> str:
    return f"{value:.2f}×"
