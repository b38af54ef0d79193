"""The metric names a run produces, and ``objective``: which one a sweeper optimises. Light (no scikit-learn),
so a misspelt objective is refused before anything heavy is imported."""

from __future__ import annotations

from musiclust.errors import ConfigError

#: external metrics (with a label column), in the order they are reported
EXTERNAL_METRICS = ("ari", "ami", "nmi", "acc", "purity", "homogeneity", "completeness")
#: internal metrics (of the embedding), computed with or without labels
INTERNAL_METRICS = ("silhouette", "calinski_harabasz", "davies_bouldin")


def objective_names(labelled: bool) -> list[str]:
    """The metrics a run can return to a sweeper as ``objective``: with a ``label_col`` or without."""
    return [*(EXTERNAL_METRICS if labelled else ()), *INTERNAL_METRICS, "coverage"]


def resolve_objective(name: str | None, labelled: bool) -> str:
    """``objective`` as a metric name: ``auto`` (or null) is nmi with labels, silhouette without; any other
    name must be one the run produces, else one :class:`ConfigError` lists the valid names."""
    if name is None or str(name) == "auto":
        return "nmi" if labelled else "silhouette"
    valid = objective_names(labelled)
    if str(name) not in valid:
        unlabelled_hint = "" if labelled or str(name) not in EXTERNAL_METRICS else \
            f" ({name} needs a label column: set label_col)"
        raise ConfigError(f"objective={name} is not a metric this run produces{unlabelled_hint}. "
                          f"Use objective=auto or one of: {', '.join(valid)}.")
    return str(name)
