"""Building objects from config-group nodes: the one place that calls Hydra's ``instantiate`` on our groups."""

from __future__ import annotations

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from musiclust.errors import MusiclustError

#: keys of our own config groups that describe the option rather than configure the object
METADATA_KEYS = ("name", "uses_backbone")


def build(node: DictConfig | dict[str, Any], **kwargs: Any) -> Any:
    """Instantiate a musiclust config-group node without its metadata keys (``name``, ...)."""
    params = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else dict(node)
    for key in METADATA_KEYS:
        params.pop(key, None)
    return build_as_is(params, **kwargs)


def build_as_is(node: DictConfig | dict[str, Any], **kwargs: Any) -> Any:
    """Instantiate a node whose every key is an argument (Lightning's Trainer, callbacks and loggers: a logger's
    ``name`` is its folder, not our metadata)."""
    try:
        return instantiate(node, **kwargs, _convert_="all")
    except InstantiationException as err:  # a constructor's own clear message, without Hydra's wrapping
        if isinstance(err.__cause__, MusiclustError):
            raise err.__cause__ from None
        raise
