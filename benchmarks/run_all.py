"""``make bench``: run the benchmarks, print each ratio, write benchmarks/results.md.

``python -m benchmarks.run_all [extraction] [sweep_cache] [large_n] [default_run] [openmp] [out_of_core]
[incremental]`` runs a subset.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from datetime import datetime, timezone

from benchmarks import default_run, extraction, incremental, large_n, openmp, out_of_core, sweep_cache
from benchmarks.common import RESULTS, WORK, load_average

BENCHMARKS = {
    "extraction": extraction,
    "sweep_cache": sweep_cache,
    "large_n": large_n,
    "default_run": default_run,
    "openmp": openmp,
    "out_of_core": out_of_core,
    "incremental": incremental,
}

NOTES = """## Notes

- Every figure comes from fresh processes started by this run, both sides of each ratio measured one after
  the other in the same run; on a shared machine the load averages above say how noisy they are.
- Peak memory: "main process" is the exact peak resident set size (`wait4`); "process tree" adds up the
  sampled resident memory of the main process and its workers (shared pages counted in each process).
- Extraction, end to end vs steady: a process that uses librosa first imports it and loads numba's compiled
  code (about 2.5 s): the original loop pays this in its one process, musiclust in its one process or once per
  worker of a pool (loky workers are fresh interpreters, kept for the next extraction in the same process). The
  ceiling is measured warm (forked after the imports), so an end-to-end ratio against it also charges musiclust
  its start-up. `n_jobs=-1` counts only the cores the 1-minute load average leaves idle: on a busy machine it
  runs one process, which extra worker processes could not beat there.
"""


def scheduler_note() -> str:
    try:
        with open("/proc/sys/kernel/sched_autogroup_enabled") as handle:
            autogroup = handle.read().strip() == "1"
    except OSError:
        autogroup = False
    if not autogroup:
        return ""
    return ("- This kernel shares CPU time fairly between sessions (autogroup scheduling is on): while other "
            "sessions are busy, all processes of a benchmark together get about one session's share of the cores, "
            "so extra worker processes cannot add throughput; the 'cores obtained' column shows what each run got.\n")


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")), "")
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model or platform.processor()}), Python {platform.python_version()}"


def write(sections: list[str], started: str) -> None:
    from musiclust.io import write_text

    header = [
        "# musiclust benchmarks",
        "",
        f"Written by `make bench` ({started}, {machine()}). Do not edit by hand: re-run `make bench`.",
        "",
    ]
    write_text("\n".join([*header, *sections, NOTES + scheduler_note()]), RESULTS)


def main(argv: list[str]) -> int:
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; choose from {list(BENCHMARKS)}", file=sys.stderr)
        return 2
    WORK.mkdir(parents=True, exist_ok=True)
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    begin = time.perf_counter()
    sections, summary = [f"Load average (1/5/15 min) at the start: {load_average()}.", ""], []
    for i, name in enumerate(names, 1):
        print(f"[{i}/{len(names)}] {name} ...", flush=True)
        t0 = time.perf_counter()
        result = BENCHMARKS[name].run()
        took = time.perf_counter() - t0
        verdict = "" if result["met"] is None else (" — target met" if result["met"] else " — TARGET NOT MET")
        line = f"{result['title']}: {result['summary']}{verdict}"
        print(f"    {line} ({took:.0f} s)", flush=True)
        summary.append(f"- {line}")
        sections += [f"## {i}. {result['title']}", "", *result["lines"], "", f"_Benchmark time: {took:.0f} s._", ""]
        write(["## Summary", "", *summary, "", *sections], started)  # keep what is done if a later one fails
    total = time.perf_counter() - begin
    sections.append(f"Total `make bench` time: {total:.0f} s; load average at the end: {load_average()}.")
    sections.append("")
    write(["## Summary", "", *summary, "", *sections], started)
    print(f"Wrote {RESULTS} ({total:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
