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
    """One process tree: wall time, CPU time (sampled), peak RSS of the main process (exact) and of the whole
    tree (sampled)."""

    wall_s: float
    cpu_s: float
    main_peak_mb: float
    tree_peak_mb: float
    returncode: int
    output: str
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def cores(self) -> float:
        """CPU seconds per wall second: how many cores the process tree actually got."""
        return self.cpu_s / max(self.wall_s, 1e-9)

    def check(self) -> Measurement:
        if self.returncode != 0:
            raise RuntimeError(f"benchmark process failed (exit {self.returncode}):\n{self.output[-4000:]}")
        return self


def _processes() -> tuple[dict[int, list[int]], dict[int, float]]:
    """(children of each pid, CPU seconds used so far by each pid) from /proc."""
    tree: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    ticks = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry))
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
    return tree, cpu


def _rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def sample_tree(root: int) -> tuple[float, dict[int, float]]:
    """Resident memory of ``root`` and all its descendants summed (shared pages counted per process), and the
    CPU seconds each of them has used so far."""
    tree, cpu = _processes()
    total, used, todo = 0.0, {}, [root]
    while todo:
        pid = todo.pop()
        total += _rss_mb(pid)
        used[pid] = cpu.get(pid, 0.0)
        todo.extend(tree.get(pid, []))
    return total, used


def measure(args: list[str], env: dict[str, str] | None = None, cwd: Path = REPO, interval: float = 0.1,
            timeout: float = 900) -> Measurement:
    """Run ``args`` in a fresh process; peak RSS of the main process comes from ``wait4`` (exact), that of
    the process tree (main + worker processes) from sampling /proc every ``interval`` seconds.
    """
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": "ignore", **(env or {})}
    with tempfile.TemporaryFile(mode="w+") as out:
        start = time.perf_counter()
        process = subprocess.Popen(args, cwd=cwd, env=full_env, stdout=out, stderr=subprocess.STDOUT)
        tree_peak, cpu_by_pid = 0.0, {}
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - start > timeout:
                process.kill()
            rss, cpu_now = sample_tree(process.pid)
            tree_peak = max(tree_peak, rss)
            cpu_by_pid.update(cpu_now)
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
    cpu = sum(cpu_by_pid.values())  # as last sampled, per process (wait4 would miss workers it did not reap)
    return Measurement(wall, cpu, main_peak, max(tree_peak, main_peak), process.returncode, output, result)


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
