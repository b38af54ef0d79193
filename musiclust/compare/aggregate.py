"""Over the runs of each group (e.g. the seeds of one cell): mean ± std of every metric, and stability — how
much their cluster assignments agree (mean pairwise ARI)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import adjusted_rand_score

from musiclust.compare.columns import check_columns, metric_columns
from musiclust.layout import LATENTS_FILE


def _groups(frame: pd.DataFrame, group_by: Sequence[str]) -> Iterable[tuple[tuple, pd.DataFrame]]:
    if not group_by:
        yield (), frame
        return
    keys = frame[list(group_by)].astype(str)  # '' and numbers group alike across sources
    for _, group in frame.groupby([keys[c] for c in group_by], sort=False, dropna=False):
        yield tuple(group.iloc[0][list(group_by)]), group


def _natural(value: Any) -> tuple:
    return (0, value, "") if isinstance(value, int | float) else (1, 0, str(value))


def aggregate(frame: pd.DataFrame, group_by: Sequence[str], metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and std (over the ok runs of each group, e.g. over seeds) of each metric.

    Columns: ``group_by`` keys, ``n_runs``, ``n_failed``, ``seeds`` and ``{metric}_mean`` / ``{metric}_std``.
    """
    group_by = list(group_by)
    check_columns(frame, group_by, "--group-by")
    metrics = list(metrics) if metrics is not None else metric_columns(frame)
    check_columns(frame, metrics, "--metrics")
    rows = []
    for values, group in _groups(frame, group_by):
        ok = group[group["status"] == "ok"]
        row: dict[str, Any] = dict(zip(group_by, values, strict=True))
        row["n_runs"] = len(ok)
        row["n_failed"] = int((group["status"] != "ok").sum())
        row["seeds"] = ",".join(map(str, sorted(set(ok["seed"]), key=_natural))) if "seed" in ok else ""
        for metric in metrics:
            numbers = pd.to_numeric(ok[metric], errors="coerce")
            row[f"{metric}_mean"] = float(numbers.mean()) if numbers.notna().any() else float("nan")
            row[f"{metric}_std"] = float(numbers.std(ddof=1)) if numbers.notna().sum() > 1 else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def cluster_assignments(run_dir: str | os.PathLike) -> pd.Series | None:
    """The clusters of a run from its ``latents.npz``, indexed by song id (None when missing)."""
    path = Path(run_dir) / LATENTS_FILE
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as latents:
        return pd.Series(latents["clusters"], index=latents["ids"].astype(str))


def pairwise_ari(assignments: Sequence[pd.Series]) -> list[float]:
    """ARI between every pair of cluster assignments, compared on the songs both runs clustered."""
    scores = []
    for a, b in itertools.combinations(assignments, 2):
        common = a.index.intersection(b.index)
        if len(common) >= 2:
            scores.append(float(adjusted_rand_score(a.loc[common].to_numpy(), b.loc[common].to_numpy())))
    return scores


def stability(frame: pd.DataFrame, group_by: Sequence[str]) -> pd.DataFrame:
    """Agreement of the runs of each group (different seeds of one cell): mean and std of pairwise ARI.

    Columns: ``group_by`` keys, ``stability_ari`` (1 = every seed gives the same partition; NaN with fewer
    than two runs), ``stability_ari_std`` and ``stability_pairs``.
    """
    group_by = list(group_by)
    check_columns(frame, group_by, "--group-by")
    rows = []
    for values, group in _groups(frame, group_by):
        ok = group[group["status"] == "ok"]
        assignments = [a for a in (cluster_assignments(d) for d in ok["run_dir"]) if a is not None]
        scores = pairwise_ari(assignments)
        rows.append({
            **dict(zip(group_by, values, strict=True)),
            "stability_ari": float(np.mean(scores)) if scores else float("nan"),
            "stability_ari_std": float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan"),
            "stability_pairs": len(scores),
        })
    return pd.DataFrame(rows)


def summarize(frame: pd.DataFrame, group_by: Sequence[str], metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`aggregate` and :func:`stability` side by side: one row per group."""
    summary = aggregate(frame, group_by, metrics)
    stable = stability(frame, group_by)
    return pd.concat([summary, stable.drop(columns=list(group_by))], axis=1)
