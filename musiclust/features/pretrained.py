"""Embeddings from pretrained audio encoders through Hugging Face ``transformers`` (``feature=pretrained_audio``).

Each song is decoded at the model's sampling rate and covered in windows of the model's input length (CLAP: the
10 s of its feature extractor; AST: 1024 frames of 10 ms; encoders that take any length, such as HuBERT and
wav2vec2: ``window_seconds``, 10 s). Windows follow each other every ``hop_seconds`` (default: one window, no
overlap) and the last one ends where the track ends, overlapping the one before, so no audio is left out; a track
shorter than a window is one window, padded the model's own way. Windows of many songs go through the model
together, ``batch_size`` at a time, under ``torch.inference_mode()`` on ``device`` (``auto``: the GPU when there is
one), and each song's window embeddings are pooled into one vector: their mean, or mean ⊕ std (``mean_std``).

Models load only from this machine: ``model`` is a local directory or a Hugging Face Hub id already in the local
cache; nothing is downloaded unless ``allow_download=true``, and code shipped with a model runs only with
``trust_remote_code=true``. A model that is not here stops the run before any audio is decoded, with the command
that fetches it. The cache key holds the model's identity (the commit of a cached Hub snapshot, or a fingerprint
of a directory's files), so two models never share cache entries. :func:`locate_model` and :func:`torch_device`
serve the lyrics embedding (:class:`musiclust.features.text.LyricsEmbedding`) too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import Any

import numpy as np
import pandas as pd

from musiclust.columns import AUDIO, ID, skip_frame
from musiclust.config import installed
from musiclust.errors import ConfigError
from musiclust.features.audio import AudioFeature, decode
from musiclust.features.base import FeatureExtractor, FeatureSet
from musiclust.features.normalize import Normalization, blocks

log = logging.getLogger(__name__)

#: the optional dependencies of the pretrained features (transformers, sentence-transformers)
EXTRA = "musiclust[pretrained]"
KINDS = ("auto", "clap", "hubert", "wav2vec2", "ast")
POOLINGS = ("mean", "mean_std")
#: ``model_type`` in a model's config.json for each kind that names one
MODEL_TYPES = {"clap": "clap", "hubert": "hubert", "wav2vec2": "wav2vec2", "ast": "audio-spectrogram-transformer"}
#: window length for encoders that take audio of any length (HuBERT, wav2vec2, MERT, ...)
DEFAULT_WINDOW_SECONDS = 10.0
#: AST's feature extractor computes one filter-bank frame every 10 ms
AST_FRAMES_PER_SECOND = 100
#: files up to this size are identified by their bytes (configs, vocabularies); larger ones (weights) by size + mtime
CONTENT_HASH_BYTES = 64 << 20
#: decoding threads at most (libsndfile and soxr release the GIL; the model is the other half of the work)
MAX_DECODE_THREADS = 8
#: a Hub snapshot directory: .../models--org--name/snapshots/<commit>
_SNAPSHOT = re.compile(r"[0-9a-f]{40}")


def require_extra(feature: str, module: str) -> None:
    """Stop with one message when the optional dependencies of ``feature`` are not installed."""
    if not installed(module):
        raise ConfigError(f"feature={feature} needs the Python package {module}, which is not installed. Install "
                          f"musiclust's optional extra: pip install '{EXTRA}' (make setup installs it).")


# -- where a model is, and what identifies it ----------------------------------------------------------------
@dataclass(frozen=True)
class ModelLocation:
    """A pretrained model on this machine: its directory, and what identifies its weights in cache keys."""

    path: Path
    identity: dict[str, str]


def missing_model_message(model: str, key: str, detail: str, downloading: bool = False) -> str:
    """How to get a model that is not on this machine (one message: download command and the alternatives)."""
    local = f"data/models/{model.rstrip('/').split('/')[-1]}"
    prefix = key.rsplit(".", 1)[0]
    return (f"{key}={model}: {detail}. " + ("" if downloading else "Runs do not download models by themselves. ")
            + f"Get it once (on a machine with network):\n  hf download {model} --local-dir {local}\n"
            f"(huggingface-cli download ... with huggingface_hub < 1.0) and set {key}={local}; or keep {key}={model} "
            f"after `hf download {model}` has put it in the Hugging Face cache"
            + ("." if downloading else f"; or let this run download it with {prefix}.allow_download=true."))


def directory_fingerprint(root: Path) -> str:
    """A digest of every file under ``root``: names and bytes of small files, names, sizes and modification
    times of large ones, so a re-saved or replaced model never matches the old one (reading gigabytes of weights
    for each run would cost more than it tells)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(root).as_posix()}\0{stat.st_size}\0".encode())
        digest.update(path.read_bytes() if stat.st_size <= CONTENT_HASH_BYTES else str(stat.st_mtime_ns).encode())
    return digest.hexdigest()[:20]


def locate_model(model: str, *, revision: str | None = None, allow_download: bool = False,
                 key: str = "feature.model") -> ModelLocation:
    """The local directory of ``model`` (a directory, or a Hub id in the local Hugging Face cache).

    Only with ``allow_download`` is a model that is not cached downloaded. Raises one :class:`ConfigError` that
    says how to get the model otherwise.
    """
    if not isinstance(model, str) or not model.strip():
        raise ConfigError(f"{key} is empty: set {key}=<Hugging Face Hub id or local directory>.")
    directory = Path(os.path.expanduser(model))
    if directory.is_dir():
        return ModelLocation(directory.resolve(), {"files": directory_fingerprint(directory)})
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

    if model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise ConfigError(f"{key}={model}: no such directory. Point {key} at the directory that holds the model "
                          f"(config.json, weights, preprocessor or tokenizer files), e.g. one made on a machine with "
                          f"network by `hf download <Hub id> --local-dir {model}`, or give a Hugging Face Hub id.")
    try:
        path = snapshot_download(model, revision=revision, local_files_only=True)
    except HFValidationError:
        raise ConfigError(missing_model_message(model, key, "neither a directory nor a Hugging Face Hub id")) from None
    except LocalEntryNotFoundError:
        if not allow_download:
            raise ConfigError(missing_model_message(
                model, key, "not a directory here, and not in the Hugging Face cache")) from None
        log.info("Downloading %s%s from the Hugging Face Hub", model, f"@{revision}" if revision else "")
        try:  # the weights in PyTorch formats only: TF, Flax, ONNX and OpenVINO copies are never loaded here
            path = snapshot_download(model, revision=revision, ignore_patterns=[
                "*.h5", "*.msgpack", "*.ot", "*.onnx", "onnx/*", "openvino/*", "*.tflite", "coreml/*"])
        except Exception as err:  # noqa: BLE001 - no network, gated or unknown repo: one message with the cause
            raise ConfigError(missing_model_message(
                model, key, f"the download failed ({(str(err).splitlines() or [type(err).__name__])[0][:200]})",
                downloading=True)) from None
    path = Path(path)
    commit = path.name if _SNAPSHOT.fullmatch(path.name) else directory_fingerprint(path)
    return ModelLocation(path, {"repo": model, "commit": commit})


def model_type(location: ModelLocation) -> str:
    """``model_type`` from the model's config.json ("" when it has none)."""
    try:
        return str(json.loads((location.path / "config.json").read_text(encoding="utf-8")).get("model_type", ""))
    except (OSError, ValueError):
        return ""


def torch_device(device: str, key: str = "feature.device") -> str:
    """``auto`` → ``cuda`` when a GPU is visible, else ``cpu``; a named device that is not there stops the run."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"{key}={device}: no CUDA GPU is visible to torch here. Use {key}=auto (the GPU when "
                          f"there is one) or {key}=cpu.")
    return str(device)


def load_failure(key: str, model: str, location: ModelLocation, err: Exception) -> ConfigError:
    """One message for a model directory that transformers / sentence-transformers cannot load."""
    detail = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
    prefix = key.rsplit(".", 1)[0]
    hint = (f" The model ships its own code: {prefix}.trust_remote_code=true runs it (only for models you trust: "
            "it executes code downloaded with the model)." if "trust_remote_code" in str(err) else
            " Check that the directory holds the whole model (config.json, weights, preprocessor or tokenizer "
            "files), e.g. by downloading it again.")
    return ConfigError(f"{key}={model}: the model in {location.path} could not be loaded: {detail}.{hint}")


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers' loading report and progress bars off while a model loads (what matters is checked after)."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def check_loaded(model: Any, loading: dict[str, Any], key: str, name: str, kind: str) -> None:
    """Weights the checkpoint lacks are initialised at random: a few are reported, most stop the run (its
    embeddings would be noise)."""
    missing = sorted(loading.get("missing_keys") or [])
    if not missing:
        return
    total = len(model.state_dict())
    shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
    if len(missing) > total / 2:
        raise ConfigError(f"{key}={name}: {len(missing)} of the {total} weights of a {kind} model are not in the "
                          f"checkpoint ({shown}): it holds another kind of model. Set {key.rsplit('.', 1)[0]}.kind "
                          "to match it, or auto.")
    log.warning("%s=%s: %d weights are not in the checkpoint and start at random: %s", key, name, len(missing), shown)


class PretrainedModel:
    """What the pretrained features share: their model's location (a ConfigError that says how to get it when it
    is not here) and its identity in the cache key, in place of the ``model`` string."""

    #: how the work is done, not what it produces; ``model`` enters the key as the identity of its files
    runtime_params = ("n_jobs", "model", "revision", "allow_download", "trust_remote_code", "device", "batch_size")
    #: where the feature's keys are in the composed config, for messages (hybrid sets ``feature.audio`` / ``.lyrics``)
    config_key = "feature"
    params: dict[str, Any]
    _location: ModelLocation | None = None

    def location(self) -> ModelLocation:
        """Where the model is: resolved before any audio is decoded or any text embedded."""
        if self._location is None:
            p = self.params
            self._location = locate_model(p["model"], revision=p["revision"], allow_download=p["allow_download"],
                                          key=f"{self.config_key}.model")
        return self._location

    def cache_config(self) -> dict[str, Any]:
        return {**super().cache_config(), "model": self.location().identity}  # type: ignore[misc]


# -- the encoder ----------------------------------------------------------------------------------------------
class AudioEncoder:
    """A pretrained audio model with its feature extractor: windows of samples → one embedding per window.

    CLAP: the audio tower's projection, unit length (what ``ClapModel.get_audio_features`` returns); AST: its
    pooled output (mean of the CLS and distillation tokens); other encoders (HuBERT, wav2vec2, ...): the mean
    over time of the last hidden state, or of hidden state ``layer`` (0 = the input embeddings).
    """

    def __init__(self, location: ModelLocation, kind: str, *, device: str, layer: int | None = None,
                 trust_remote_code: bool = False, key: str = "feature.model", model: str = "") -> None:
        import transformers

        self.kind, self.layer, self.device = kind, layer, device
        options = {"local_files_only": True, "trust_remote_code": bool(trust_remote_code)}
        model_class = {"clap": transformers.ClapAudioModelWithProjection, "ast": transformers.ASTModel,
                       "hubert": transformers.HubertModel, "wav2vec2": transformers.Wav2Vec2Model}.get(
            kind, transformers.AutoModel)
        try:
            with quiet_transformers():
                self.extractor = transformers.AutoFeatureExtractor.from_pretrained(str(location.path), **options)
                self.model, loading = model_class.from_pretrained(str(location.path), output_loading_info=True,
                                                                  **options)
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            raise load_failure(key, model or str(location.path), location, err) from None
        check_loaded(self.model, loading, key, model or str(location.path), kind)
        self.model.to(device).eval()
        self.sr = int(self.extractor.sampling_rate)
        import inspect

        self.inputs = set(inspect.signature(self.model.forward).parameters)

    @property
    def max_samples(self) -> int | None:
        """The longest window the model takes in one pass (None: any length)."""
        if self.kind == "clap":
            return int(self.extractor.nb_max_samples)
        if self.kind == "ast":
            return int(self.extractor.max_length) * self.sr // AST_FRAMES_PER_SECOND
        return None

    def batch_key(self, window: np.ndarray) -> int:
        """Windows with the same key can share a batch without changing each other's embeddings: CLAP's and AST's
        extractors bring every window to the model's input size on its own; other encoders would see padding."""
        return 0 if self.kind in ("clap", "ast") else len(window)

    def embed(self, windows: Sequence[np.ndarray]) -> np.ndarray:
        """(len(windows), dim) float32 embeddings; windows of one batch must share a :meth:`batch_key`."""
        import torch

        inputs = self.extractor([np.asarray(w, dtype=np.float32) for w in windows], sampling_rate=self.sr,
                                return_tensors="pt")
        if self.kind == "clap":  # no window exceeds the input: no fusion (the extractor would pick one at random)
            inputs["is_longer"] = torch.zeros((len(windows), 1), dtype=torch.bool)
        inputs = {name: value.to(self.device) for name, value in inputs.items() if name in self.inputs}
        with torch.inference_mode():
            if self.kind == "clap":
                vectors = torch.nn.functional.normalize(self.model(**inputs).audio_embeds, dim=-1)
            else:
                output = self.model(**inputs, output_hidden_states=self.layer is not None)
                if self.layer is not None:
                    vectors = output.hidden_states[self.layer].mean(dim=1)
                elif self.kind == "ast":
                    vectors = output.pooler_output
                else:
                    vectors = output.last_hidden_state.mean(dim=1)
        return vectors.float().cpu().numpy()


def signal_windows(signal: np.ndarray, window: int, hop: int, max_windows: int | None = None) -> list[np.ndarray]:
    """Windows of ``window`` samples, one every ``hop``, that cover all of ``signal``.

    The last window ends at the end of the signal (overlapping the one before when the length is not a whole
    number of hops); a signal no longer than one window is one window as it is. ``max_windows`` keeps that many
    evenly spaced windows (None: all).
    """
    if len(signal) <= window:
        return [signal]
    starts = list(range(0, len(signal) - window + 1, hop))
    if starts[-1] + window < len(signal):
        starts.append(len(signal) - window)
    if max_windows is not None and len(starts) > int(max_windows):
        starts = [starts[i] for i in np.linspace(0, len(starts) - 1, int(max_windows)).round().astype(int)]
    return [signal[start:start + window] for start in starts]


def pool(embeddings: np.ndarray, pooling: str) -> np.ndarray:
    """One song's window embeddings (n, dim) → its vector: the mean, or mean ⊕ std over windows."""
    mean = embeddings.mean(axis=0)
    return mean if pooling == "mean" else np.concatenate([mean, embeddings.std(axis=0)])


class PretrainedAudio(PretrainedModel, AudioFeature):
    """Pooled window embeddings of a pretrained audio encoder (CLAP, HuBERT, wav2vec2, AST, or any ``AutoModel``
    whose output has a ``last_hidden_state``), one vector per song.

    Normalisation: CLAP's embeddings rows to unit length (``l2``: CLAP is trained to compare clips by cosine, so a
    vector's direction is its meaning); the hidden states of the other encoders z-scored per column (``standard``:
    transformer hidden states have a few dimensions of much larger magnitude that would dominate every distance;
    z-scoring is the linear-probe recipe). With ``mean_std`` the mean and the std are two blocks of equal weight.
    """

    name = "pretrained_audio"
    #: the store computes missing songs with :meth:`compute` on batches of songs (windows batched across songs),
    #: not through the audio features' chunked extraction
    compute_batches = FeatureExtractor.compute_batches

    def __init__(
        self, model: str = "laion/clap-htsat-unfused", kind: str = "auto", pooling: str = "mean",
        window_seconds: float | None = None, hop_seconds: float | None = None, max_windows: int | None = None,
        layer: int | None = None, duration: float | None = None, min_duration: float = 0.5,
        revision: str | None = None, allow_download: bool = False, trust_remote_code: bool = False,
        device: str = "auto", batch_size: int = 16, n_jobs: int = 1,
    ) -> None:

        FeatureExtractor.__init__(
            self, model=model, kind=kind, pooling=pooling, window_seconds=window_seconds, hop_seconds=hop_seconds,
            max_windows=max_windows, layer=layer, duration=duration, min_duration=min_duration, revision=revision,
            allow_download=bool(allow_download), trust_remote_code=bool(trust_remote_code), device=device,
            batch_size=int(batch_size), n_jobs=int(n_jobs))
        require_extra(self.name, "transformers")
        if kind not in KINDS:
            raise ConfigError(f"feature.kind={kind!r}: use one of {', '.join(KINDS)} (auto: from the model's config).")
        if pooling not in POOLINGS:
            raise ConfigError(f"feature.pooling={pooling!r}: use mean or mean_std.")
        self.duration, self.min_duration, self.n_jobs = duration, float(min_duration), int(n_jobs)
        self.batch_size, self.max_windows = int(batch_size), max_windows
        self._encoder: AudioEncoder | None = None

    def __getstate__(self) -> dict[str, Any]:  # a worker process loads its own copy of the model
        return {**self.__dict__, "_encoder": None}

    # -- the model ----------------------------------------------------------------------------------------
    def kind(self) -> str:
        """The model's kind: ``feature.kind``, or from its config.json when ``auto``; a mismatch stops the run."""
        found = model_type(self.location())
        kind = self.params["kind"]
        if kind == "auto":
            return next((k for k, t in MODEL_TYPES.items() if t == found), "auto")
        if found and found != MODEL_TYPES[kind]:
            raise ConfigError(f"{self.config_key}.kind={kind}, but {self.params['model']} is a {found!r} model. Set "
                              f"{self.config_key}.kind=auto.")
        return kind

    def encoder(self) -> AudioEncoder:
        if self._encoder is None:
            kind, key = self.kind(), f"{self.config_key}.model"
            if kind == "clap" and self.params["layer"] is not None:
                raise ConfigError(f"{self.config_key}.layer={self.params['layer']}: CLAP's embedding is its "
                                  "projection; layers apply to transformer encoders. "
                                  f"Set {self.config_key}.layer=null.")
            begin = perf_counter()
            self._encoder = AudioEncoder(
                self.location(), kind, layer=self.params["layer"], trust_remote_code=self.params["trust_remote_code"],
                device=torch_device(self.params["device"], f"{self.config_key}.device"), key=key,
                model=self.params["model"])
            log.info("Feature %s: %s (%s, %d Hz) loaded on %s in %.1f s", self.name, self.params["model"], kind,
                     self._encoder.sr, self._encoder.device, perf_counter() - begin)
        return self._encoder

    @property
    def sr(self) -> int:  # the model's sampling rate: every song is decoded at it
        return self.encoder().sr

    def window_samples(self) -> tuple[int, int]:
        """(window, hop) in samples at the model's rate; a window longer than the model takes stops the run."""
        encoder, p = self.encoder(), self.params
        longest = encoder.max_samples
        window = int(round(p["window_seconds"] * encoder.sr)) if p["window_seconds"] else (
            longest or int(DEFAULT_WINDOW_SECONDS * encoder.sr))
        if longest is not None and window > longest:
            raise ConfigError(f"{self.config_key}.window_seconds={p['window_seconds']}: this {encoder.kind} model "
                              f"takes at most {longest / encoder.sr:g} s in one pass. Set a shorter window or null.")
        hop = int(round(p["hop_seconds"] * encoder.sr)) if p["hop_seconds"] else window
        return window, max(1, min(hop, window))

    def policy(self, width: int) -> Normalization:
        base = "l2" if self.encoder().kind == "clap" else "standard"
        if self.params["pooling"] == "mean" or width < 2:
            return base
        return blocks(("mean", width // 2, base, 1.0), ("std", width // 2, base, 1.0))

    # -- the feature --------------------------------------------------------------------------------------
    def from_signal(self, signal: np.ndarray) -> np.ndarray:
        """One song (decoded at :attr:`sr`) on its own: its windows in batches, pooled."""
        windows = signal_windows(signal, *self.window_samples(), self.max_windows)
        encoder = self.encoder()
        vectors = [encoder.embed(windows[i:i + self.batch_size]) for i in range(0, len(windows), self.batch_size)]
        return pool(np.concatenate(vectors), self.params["pooling"])

    def decoded(self, paths: Sequence[str]) -> Iterator[tuple[np.ndarray | None, str]]:
        """(signal, "") or (None, reason) per path, in order, decoded in threads a few files ahead."""
        from joblib import effective_n_jobs

        sr = self.sr
        workers = max(1, min(effective_n_jobs(self.n_jobs), MAX_DECODE_THREADS, len(paths)))
        if workers == 1:
            for path in paths:
                yield decode(path, sr, self.duration, self.min_duration)
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="musiclust-decode") as threads:
            ahead: deque = deque()
            for path in paths:
                ahead.append(threads.submit(decode, path, sr, self.duration, self.min_duration))
                if len(ahead) > 2 * workers:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()

    def compute(self, manifest: pd.DataFrame) -> FeatureSet:
        from tqdm.auto import tqdm

        encoder = self.encoder()  # a missing or unloadable model stops the run before any audio is decoded
        window, hop = self.window_samples()
        ids = manifest[ID].astype(str).to_numpy()
        embedded: list[list[np.ndarray]] = [[] for _ in ids]
        pending: dict[int, list[tuple[int, np.ndarray]]] = {}  # batch key → (song, window) waiting for a batch
        skipped: list[tuple[str, str]] = []
        n_windows, begin = 0, perf_counter()

        def run(key: int) -> None:
            group = pending.pop(key)
            for (song, _), vector in zip(group, encoder.embed([w for _, w in group]), strict=True):
                embedded[song].append(vector)

        with tqdm(total=len(ids), desc=f"features {self.name}", unit="song", delay=2.0, disable=None) as bar:
            for song, (signal, reason) in enumerate(self.decoded(manifest[AUDIO].astype(str).tolist())):
                bar.update()
                if signal is None:
                    skipped.append((ids[song], reason))
                    continue
                for piece in signal_windows(signal, window, hop, self.max_windows):
                    n_windows += 1
                    group = pending.setdefault(encoder.batch_key(piece), [])
                    group.append((song, piece))
                    if len(group) >= self.batch_size:
                        run(encoder.batch_key(piece))
                while sum(map(len, pending.values())) > 4 * self.batch_size:  # bounded memory for odd lengths
                    run(max(pending, key=lambda k: len(pending[k])))
            for key in list(pending):
                run(key)
        kept = [i for i, vectors in enumerate(embedded) if vectors]
        values = (np.stack([pool(np.stack(embedded[i]), self.params["pooling"]) for i in kept]) if kept
                  else np.zeros((0, 1))).astype(np.float32)
        log.info("Feature %s: %d songs, %d windows of %.2f s in %.1f s on %s", self.name, len(kept), n_windows,
                 window / encoder.sr, perf_counter() - begin, encoder.device)
        return FeatureSet(values, ids[kept], skip_frame(skipped, stage="audio"), self.policy(values.shape[1]))
