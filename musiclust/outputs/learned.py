"""``learned/``: what a run learned, saved so that ``musiclust-predict`` can assign new songs — in formats that
run no code when they are loaded.

::

    learned/
    ├── meta.json         format, musiclust version, the resolved k, the normaliser's policy, the conditioning
    │                     column's categories (CVAE), the assignment rule, and the size + SHA-256 of every file
    ├── normalizer.npz    the fitted normaliser's arrays: mean, scale, block_norms (np.load without pickles)
    ├── model.pt          the model's state_dict (torch.save; loaded with torch.load(weights_only=True))
    ├── reducer.skops     the fitted reducer (skops); UMAP's stand-in, see below
    ├── assigner.skops    the fitted clusterer, or the rule that assigns new songs to its clusters (skops)
    └── centres.npz       cluster ids and centres in the clustered space (the distance column of assignments.csv)

The feature settings, the model's class and its hyperparameters are in the run's ``.hydra/config.yaml``: the
model is rebuilt from them and given the saved weights, so nothing is unpickled. Estimators are saved with
``skops.io`` and loaded with an explicit list of trusted types, each checked against :data:`TRUSTED_TYPES`
(the musiclust classes saved here; scikit-learn's estimators are trusted by skops itself): a file holding any
other type is refused with skops' ``UntrustedTypesFoundException`` before anything in it is built.

A fitted UMAP holds compiled numba functions, which no safe format can hold. A run with ``reducer=umap`` saves a
:class:`~musiclust.clustering.assign.NeighbourEmbedding` instead: the run's embeddings and their UMAP
coordinates; new songs are placed at the inverse-distance weighted mean of their nearest songs' coordinates
(UMAP's own starting point for new points), the run's own songs exactly where UMAP put them.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from musiclust import __version__
from musiclust.clustering.assign import NeighbourEmbedding, assigner_for, cluster_centres
from musiclust.clustering.reducers import UMAPReducer
from musiclust.errors import UnsafeRunError
from musiclust.features.normalize import Normalizer, as_normalization, to_json
from musiclust.io import atomic_path, save_npz, write_json
from musiclust.layout import LEARNED_DIR
from musiclust.outputs.assignments import clustered_space
from musiclust.outputs.result import OutputStep, RunResult
from musiclust.preprocess import one_hot

log = logging.getLogger(__name__)

#: bump when the files of learned/ change meaning; predict refuses a format it does not know
FORMAT = 1
META_FILE, NORMALIZER_FILE, MODEL_FILE = "meta.json", "normalizer.npz", "model.pt"
REDUCER_FILE, ASSIGNER_FILE, CENTRES_FILE = "reducer.skops", "assigner.skops", "centres.npz"
#: the types outside scikit-learn that a learned/*.skops file may hold (skops trusts scikit-learn's estimators)
TRUSTED_TYPES = frozenset({
    "musiclust.clustering.reducers.NoReducer",
    "musiclust.clustering.reducers.PCAReducer",
    "musiclust.clustering.assign.NeighbourEmbedding",
    "musiclust.clustering.assign.NearestSongAssigner",
    "musiclust.clustering.assign.CoreSampleAssigner",
    "musiclust.clustering.assign.CoreDistanceAssigner",
    "musiclust.clustering.estimators.ModelClusters",
})


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def dump_estimator(estimator: Any, path: Path) -> list[str]:
    """Save ``estimator`` with skops; returns the types it needs trusted, which must all be :data:`TRUSTED_TYPES`."""
    import skops.io

    data = skops.io.dumps(estimator)
    untrusted = skops.io.get_untrusted_types(data=data)
    unknown = sorted(set(untrusted) - TRUSTED_TYPES)
    if unknown:
        raise TypeError(f"{type(estimator).__name__} holds types musiclust-predict would not load: {unknown}")
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return sorted(untrusted)


def load_estimator(path: Path) -> Any:
    """Load a skops file trusting only the :data:`TRUSTED_TYPES` it holds; any other type is refused by skops
    (``UntrustedTypesFoundException``, the cause of the :class:`UnsafeRunError` raised) before it is built."""
    import skops.io
    from skops.io.exceptions import UntrustedTypesFoundException

    untrusted = skops.io.get_untrusted_types(file=path)
    trusted = sorted(set(untrusted) & TRUSTED_TYPES)
    try:
        return skops.io.load(path, trusted=trusted)
    except UntrustedTypesFoundException as err:
        raise UnsafeRunError(
            f"{path} holds types musiclust does not load: {sorted(set(untrusted) - TRUSTED_TYPES)}. The run dir was "
            "changed after musiclust wrote it, or comes from somewhere you should not trust; nothing in it was run. "
            "Predict from a run dir musiclust wrote."
        ) from err


def saved_reducer(result: RunResult) -> Any:
    """The reducer to save: the fitted one, or for UMAP a :class:`NeighbourEmbedding` of the run's songs."""
    reducer = result.clustering.reducer
    if isinstance(reducer, UMAPReducer):
        return NeighbourEmbedding(n_neighbors=int(reducer.n_neighbors_)).fit(result.z, result.z_reduced)
    return reducer


def conditions_of(result: RunResult) -> dict[str, Any] | None:
    """The conditioning column (a CVAE's ``cond_col``) and the categories its one-hot was trained with."""
    column = result.settings.get("cond_col")
    if not column or column not in result.manifest.columns:
        return None
    return {"column": str(column), "categories": one_hot(result.manifest[column])[1]}


class LearnedWriter(OutputStep):
    """``learned/``: the normaliser, model weights, reducer, clusterer (or its assignment rule) and cluster centres,
    for ``musiclust-predict`` (module doc). A part that cannot be saved safely is named in ``meta.json``
    (``unavailable``) and the run goes on: predict then refuses the run with that reason."""

    def write(self, result: RunResult) -> None:
        import torch

        directory = result.run_dir / LEARNED_DIR
        directory.mkdir(parents=True, exist_ok=True)
        space = clustered_space(result)
        clusterer, clusters = result.clustering.clusterer, np.asarray(result.clusters, dtype=np.int64)
        normalizer = result.datamodule.normalizer
        meta: dict[str, Any] = {
            "format": FORMAT, "musiclust_version": __version__, "k": result.settings.get("k") or None,
            "feature": result.settings.get("feature"), "normalization": to_json(normalizer.policy),
            "conditions": conditions_of(result), "clusterer": result.settings.get("clusterer"),
            "reducer": result.settings.get("reducer"), "unavailable": None, "trusted_types": {},
        }
        save_npz(directory / NORMALIZER_FILE, mean=np.asarray(normalizer.mean_), scale=np.asarray(normalizer.scale_),
                 block_norms=np.asarray(normalizer.block_norms_))
        with atomic_path(directory / MODEL_FILE) as tmp:
            torch.save({name: tensor.detach().cpu() for name, tensor in result.model.state_dict().items()}, tmp)
        ids, centres = cluster_centres(clusterer, space, clusters)
        save_npz(directory / CENTRES_FILE, ids=ids, centres=centres)
        try:
            assigner = assigner_for(clusterer, space, clusters)
            meta["assignment_rule"] = type(assigner).__name__
            for name, estimator in ((REDUCER_FILE, saved_reducer(result)), (ASSIGNER_FILE, assigner)):
                meta["trusted_types"][name] = dump_estimator(estimator, directory / name)
        except (TypeError, ValueError) as err:  # a clusterer musiclust has no safe rule for: the run itself is fine
            meta["unavailable"] = f"clusterer={meta['clusterer']} cannot be saved for predicting new songs ({err})"
            log.warning("learned/: %s; musiclust-predict will refuse this run", meta["unavailable"])
        stored = sorted(p.name for p in directory.iterdir() if p.is_file() and p.name != META_FILE
                        and not p.name.startswith("."))
        meta["files"] = {name: {"bytes": (directory / name).stat().st_size, "sha256": sha256(directory / name)}
                         for name in stored}
        write_json(meta, directory / META_FILE)


# -- reading it back (musiclust-predict) ------------------------------------------------------------------------
@dataclass
class Learned:
    """A finished run's ``learned/`` dir, its files checked against ``meta.json``; each part loaded on demand."""

    directory: Path
    meta: dict[str, Any]

    @classmethod
    def read(cls, run_dir: str | Path) -> Learned:
        """The learned parts of ``run_dir``; an :class:`UnsafeRunError` names what is missing, changed or refused."""
        directory = Path(run_dir) / LEARNED_DIR
        try:
            meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UnsafeRunError(
                f"{directory / META_FILE} is missing: this run did not save what it learned (it was made by an older "
                "musiclust, or with ~outputs.learned). Rerun it with the default outputs to predict from it."
            ) from None
        except (OSError, ValueError) as err:
            raise UnsafeRunError(f"{directory / META_FILE} is unreadable ({err}). Rerun the run.") from None
        if meta.get("format") != FORMAT:
            raise UnsafeRunError(f"{directory} is in format {meta.get('format')!r}; this musiclust reads format "
                                 f"{FORMAT}. Predict with the musiclust version that made the run, or rerun it.")
        if meta.get("unavailable"):
            raise UnsafeRunError(f"cannot predict from {run_dir}: {meta['unavailable']}.")
        for name, expected in (meta.get("files") or {}).items():
            path = directory / name
            if not path.is_file() or path.stat().st_size != expected.get("bytes") or sha256(path) != expected.get(
                    "sha256"):
                raise UnsafeRunError(f"{path} is missing or does not match its checksum in {META_FILE}: the run dir "
                                     "was changed after it finished. Rerun the run, or restore its files.")
        return cls(directory, meta)

    def normalizer(self) -> Normalizer:
        """The fitted normaliser, as the run applied it (never refitted)."""
        normalizer = Normalizer(as_normalization(self.meta["normalization"]))
        with np.load(self.directory / NORMALIZER_FILE, allow_pickle=False) as arrays:
            normalizer.mean_, normalizer.scale_ = arrays["mean"], arrays["scale"]
            normalizer.block_norms_ = arrays["block_norms"]
        return normalizer

    def load_weights(self, model: Any) -> Any:
        """Give ``model`` (rebuilt from the run's config) the saved weights; returns it, in eval mode."""
        import torch

        state = torch.load(self.directory / MODEL_FILE, map_location="cpu", weights_only=True)
        # a closed-form model (PCA) sizes its buffers when it is fitted: give them the saved sizes first
        for name, buffer in list(model.named_buffers()):
            if name in state and buffer.shape != state[name].shape:
                owner, _, attribute = name.rpartition(".")
                module = model.get_submodule(owner) if owner else model
                module.register_buffer(attribute, torch.empty_like(state[name]))
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise UnsafeRunError(f"the weights in {self.directory / MODEL_FILE} do not fit the model its "
                                 f".hydra/config.yaml describes ({str(err).splitlines()[0]}). Rerun the run.") from None
        return model.eval()

    def reducer(self) -> Any:
        return load_estimator(self.directory / REDUCER_FILE)

    def assigner(self) -> Any:
        return load_estimator(self.directory / ASSIGNER_FILE)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        with np.load(self.directory / CENTRES_FILE, allow_pickle=False) as arrays:
            return arrays["ids"], arrays["centres"]
