"""User-facing errors: each message names the item that is wrong and how to fix it."""

from __future__ import annotations


class MusiclustError(ValueError):
    """A problem with the user's data or configuration (not a bug in musiclust)."""


class ConfigError(MusiclustError):
    """An option or combination of options that cannot work."""


class DataError(MusiclustError):
    """A dataset-level problem: missing path, missing column, too few usable items."""


class UnsafeRunError(MusiclustError):
    """A run dir whose saved parts cannot be loaded safely: unfinished, changed after it finished, or holding
    types or targets that would run code musiclust does not trust."""


class TrainingDiverged(MusiclustError):
    """The training loss became NaN/inf or exploded: the run's results would be meaningless."""
