"""Atomic file writes: every output is written to a temporary file and renamed into place."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or path.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def write_text(text: str, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(data: Any, path: str | os.PathLike) -> Path:
    return write_text(json.dumps(data, indent=2, sort_keys=True, default=str), path)


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    with atomic_path(path, suffix=".npz") as tmp:
        np.savez(tmp, **arrays)
    return Path(path)


def save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, array)
    return Path(path)


def save_figure(figure: Any, path: str | os.PathLike, dpi: int = 110) -> Path:
    """Save a matplotlib figure atomically and close it."""
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=dpi, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")
    plt.close(figure)
    return Path(path)
