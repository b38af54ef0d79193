"""``GridSweeper``: Hydra's basic sweeper over a union of cartesian products (``hydra.sweeper.grids``).

Task suites whose cells are not one product (spectral clustering only on raw features, baselines without a
clusterer axis) list one product per entry of ``grids``; ``params`` multiply every grid; command-line sweeps
win over both; a job that several grids produce runs once. The expansion lives in :mod:`musiclust.sweep`.
"""

from __future__ import annotations

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override


class GridSweeper(BasicSweeper):
    def __init__(
        self, max_batch_size: int | None = None, params: dict[str, str] | None = None,
        grids: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=None)
        self.common = dict(params or {})
        self.grids = [dict(grid) for grid in grids or []]

    def _parse_config(self) -> list[str]:
        return []  # params are applied per grid in split_arguments, under the command-line arguments

    def split_arguments(self, overrides: list[Override], max_batch_size: int | None) -> list[list[list[str]]]:
        from musiclust.sweep import expand_grids

        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        arguments = [override.input_line for override in overrides]
        jobs = expand_grids(self.grids, self.common, arguments, parser)
        size = max_batch_size if max_batch_size and max_batch_size > 0 else max(1, len(jobs))
        return [jobs[i:i + size] for i in range(0, len(jobs), size)]


__all__ = ["GridSweeper"]
