"""Outputs: each step writes one kind of file into the run dir (``conf/outputs``), after clustering and metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from musiclust.instantiate import build
from musiclust.outputs.result import OutputStep, RunResult

__all__ = ["OutputStep", "RunResult", "build_outputs", "write_outputs"]


def build_outputs(nodes: Mapping[str, Any] | None) -> list[OutputStep]:
    """The output steps of the ``outputs`` config group, in order; ``~outputs.<name>`` removes one."""
    return [build(node) for node in (nodes or {}).values() if node is not None]


def write_outputs(result: RunResult, steps: list[OutputStep]) -> None:
    """Write every output of a run, one step after the other (the completion marker comes after all of them)."""
    for step in steps:
        step.write(result)
