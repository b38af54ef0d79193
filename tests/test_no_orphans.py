"""Killing a run during parallel extraction leaves no worker process behind (issue 1, item 17)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import ONE_THREAD_ENV, REPO

#: a long parallel extraction: the tiny demo set repeated, so it is still running when the test kills it
EXTRACTION = """
import sys
import pandas as pd
from musiclust.data.demo import DemoDataset
from musiclust.features.audio import MFCCStats, extract_audio
songs = DemoDataset(root=sys.argv[1], n_songs=36, duration=2.0, seed=0, sr=22050).load()
extract_audio(pd.concat([songs] * 300, ignore_index=True), [MFCCStats()], n_jobs=2, progress=False)
"""


def session_members(session: int) -> dict[int, str]:
    """Live (not zombie) processes of a session, by pid, with their command lines."""
    members = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")[:120]
        except OSError:  # gone meanwhile
            continue
        state, process_session = fields[0], int(fields[3])
        if process_session == session and state not in ("Z", "X"):
            members[int(entry)] = command
    return members


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_sigkill_during_extraction_leaves_no_process_alive(demo_root):
    env = {**os.environ, **ONE_THREAD_ENV, "PYTHONWARNINGS": "ignore"}
    # its own session: every process it starts (workers, helpers) keeps that session id after it is gone
    main = subprocess.Popen([sys.executable, "-c", EXTRACTION, str(demo_root)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        # two workers and at least one helper (resource tracker) besides the main process
        started = wait_for(lambda: len(session_members(main.pid)) >= 4 or main.poll() is not None, 120)
        time.sleep(2.0)  # let the workers get into their chunks
        assert started and main.poll() is None, f"extraction ended early: {main.stderr.read().decode()[-2000:]}"
        before = session_members(main.pid)
        main.kill()
        main.wait()
        gone = wait_for(lambda: not session_members(main.pid), 10)
        left = session_members(main.pid)
        assert gone, f"alive 10 s after SIGKILL of the main process: {left} (started: {before})"
    finally:
        if main.poll() is None:
            main.kill()
            main.wait()
        for pid in session_members(main.pid):  # never leave the test's own orphans behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        main.stderr.close()
