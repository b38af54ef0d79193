"""The run schema: what each user-settable value may be, checked before any work is done.

One table, :data:`RULES`: a dotted key of the composed config, what a valid value is, and when the rule applies
(e.g. only for models that train). :func:`validate` reports every broken rule at once, in one
:class:`~musiclust.errors.ConfigError` whose lines name the key, the value given and what to set instead.
:func:`validate_for_songs` adds the checks that need the number of songs (known once the dataset is read,
still before features and training). Imports nothing heavy, so a bad value answers at once.
"""

from __future__ import annotations

import importlib.util
import math
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from musiclust.errors import ConfigError

#: the Hydra config groups, shipped inside the package (package data), so an installed wheel has them too
CONFIG_DIR = str(Path(__file__).resolve().parent / "conf")

#: sentinel for keys that are absent from the composed config (the rule then does not apply)
_ABSENT = object()


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (_is_int(value) or isinstance(value, float)) and math.isfinite(value)


def integer(minimum: int, nullable: bool = False) -> Callable[[Any], bool]:
    return lambda v: (nullable and v is None) or (_is_int(v) and v >= minimum)


def number(above: float | None = None, at_least: float | None = None, at_most: float | None = None,
           below: float | None = None, nullable: bool = False) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        if nullable and v is None:
            return True
        return _is_number(v) and (above is None or v > above) and (at_least is None or v >= at_least) and (
            at_most is None or v <= at_most) and (below is None or v < below)
    return check


def one_of(*choices: Any) -> Callable[[Any], bool]:
    return lambda v: v in choices


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (an optional extra's package)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    return importlib.util.find_spec(module) is not None


#: the pretrained features and the package each needs (the optional extra musiclust[pretrained])
PRETRAINED_FEATURES = {"musiclust.features.PretrainedAudio": "transformers",
                       "musiclust.features.LyricsEmbedding": "sentence_transformers"}
_DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


def _pretrained_at(prefix: str) -> Callable[[DictConfig], bool]:
    """Whether the feature node at ``prefix`` (feature, or a hybrid's feature.audio / feature.lyrics) is pretrained."""
    return lambda cfg: OmegaConf.select(cfg, f"{prefix}._target_", default=None) in PRETRAINED_FEATURES


def _pretrained_rules(prefix: str) -> tuple[Rule, ...]:
    applies = _pretrained_at(prefix)

    def extra_installed(cfg: DictConfig) -> bool:
        return applies(cfg) and not installed(PRETRAINED_FEATURES[OmegaConf.select(cfg, f"{prefix}._target_")])

    return (
        Rule(f"{prefix}.model", "loadable, and loading pretrained models needs the optional extra "
             "musiclust[pretrained] (transformers, sentence-transformers), which is not installed: "
             "pip install 'musiclust[pretrained]'", lambda v: False, applies=extra_installed),
        Rule(f"{prefix}.model", "a Hugging Face Hub id or a local directory", lambda v: isinstance(v, str) and v != "",
             applies=applies, example="laion/clap-htsat-unfused"),
        Rule(f"{prefix}.kind", "auto, clap, hubert, wav2vec2 or ast",
             one_of("auto", "clap", "hubert", "wav2vec2", "ast"), applies=applies, example="auto"),
        Rule(f"{prefix}.pooling", "mean or mean_std", one_of("mean", "mean_std"), applies=applies, example="mean"),
        Rule(f"{prefix}.window_seconds", "a number of seconds > 0, or null (the model's input length)",
             number(above=0.0, nullable=True), applies=applies, example="null"),
        Rule(f"{prefix}.hop_seconds", "a number of seconds > 0, or null (one window: no overlap)",
             number(above=0.0, nullable=True), applies=applies, example="null"),
        Rule(f"{prefix}.layer", "an integer (a hidden layer), or null (the model's output)",
             lambda v: v is None or _is_int(v), applies=applies, example="null"),
        Rule(f"{prefix}.max_tokens", "an integer ≥ 8, or null (the model's maximum sequence length)",
             integer(8, nullable=True), applies=applies, example="null"),
        Rule(f"{prefix}.batch_size", "an integer ≥ 1", integer(1), applies=applies, example="16"),
        Rule(f"{prefix}.device", "auto, cpu, cuda, cuda:<n> or mps",
             lambda v: isinstance(v, str) and _DEVICE.fullmatch(v) is not None, applies=applies, example="auto"),
        Rule(f"{prefix}.allow_download", "true or false", lambda v: isinstance(v, bool), applies=applies,
             example="false"),
        Rule(f"{prefix}.trust_remote_code", "true or false (true runs code downloaded with the model)",
             lambda v: isinstance(v, bool), applies=applies, example="false"),
    )


def is_debug_run(cfg: DictConfig) -> bool:
    """A trial run (``debug=...`` sets ``debug_run``; or ``trainer.fast_dev_run``): marked as such and left out of
    comparisons unless asked."""
    return bool(OmegaConf.select(cfg, "debug_run", default=False)
                or OmegaConf.select(cfg, "trainer.fast_dev_run", default=False))


def _is_checkpoint(value: Any) -> bool:
    return value is None or (isinstance(value, str) and Path(value).expanduser().is_file())


def _trains(cfg: DictConfig) -> bool:
    """A model with a backbone learns by gradient descent (PCA and raw are fitted in closed form)."""
    return bool(OmegaConf.select(cfg, "model.uses_backbone", default=True)) and not OmegaConf.select(
        cfg, "trainer.fast_dev_run", default=False)


@dataclass(frozen=True)
class Rule:
    key: str
    expect: str
    valid: Callable[[Any], bool]
    applies: Callable[[DictConfig], bool] = lambda cfg: True
    example: str = ""

    def problem(self, cfg: DictConfig) -> str | None:
        value = OmegaConf.select(cfg, self.key, default=_ABSENT, throw_on_missing=False)
        if value is _ABSENT or not self.applies(cfg):
            return None
        if OmegaConf.is_config(value) or self.valid(value):
            return None
        shown = "null" if value is None else repr(value) if isinstance(value, str) else value
        fix = f" Set e.g. {self.key}={self.example}." if self.example else ""
        return f"{self.key}={shown}: must be {self.expect}.{fix}"


RULES: tuple[Rule, ...] = (
    Rule("seed", "an integer", integer(-(2**63)), example="42"),
    Rule("k", "an integer ≥ 2, or auto (the number of label_col values)",
         lambda v: v is None or v == "auto" or (_is_int(v) and v >= 2), example="6"),
    Rule("batch_size", "an integer ≥ 1", integer(1), example="64"),
    Rule("num_workers", "an integer ≥ 0", integer(0), example="0"),
    Rule("max_skip_fraction", "a share in [0, 1)", number(at_least=0.0, below=1.0), example="0.2"),
    Rule("silhouette_sample_size", "an integer ≥ 2, or null", integer(2, nullable=True), example="10000"),
    Rule("cache_key", "stat (path + size + mtime) or content (a hash of the file)", one_of("stat", "content"),
         example="stat"),
    Rule("normalization", "auto, standard, center, l2 or none",
         one_of("auto", "standard", "center", "l2", "none"), example="auto"),
    Rule("ckpt_path", "an existing checkpoint file (relative to where you run musiclust), or null",
         _is_checkpoint, example="outputs/runs/<run>/checkpoints/last.ckpt"),
    # dataset
    Rule("dataset.language_detector", "lingua (ISO 639-1 codes), script (the writing system) or none",
         one_of("lingua", "script", "none"), example="lingua"),
    Rule("dataset.language_threshold", "a share in [0.5, 1] (what the dominant language or script needs)",
         number(at_least=0.5, at_most=1.0), example="0.6"),
    # model
    Rule("model.latent_dim", "an integer ≥ 1", integer(1), example="16"),
    Rule("model.lr", "a number > 0", number(above=0.0), example="0.001"),
    Rule("model.beta", "a number ≥ 0", number(at_least=0.0), example="1.0"),
    Rule("model.weight_decay", "a number ≥ 0", number(at_least=0.0), example="0.0"),
    Rule("model.kl_warmup_epochs", "an integer ≥ 0", integer(0), example="10"),
    Rule("model.pretrain_epochs", "an integer ≥ 0", integer(0), example="10"),
    Rule("model.active_threshold", "a number > 0", number(above=0.0), example="0.01"),
    Rule("model.n_components", "an integer ≥ 2", integer(2), example="6"),
    Rule("model.projection_dim", "an integer ≥ 1", integer(1), example="32"),
    Rule("model.temperature", "a number > 0 (the NT-Xent temperature)", number(above=0.0), example="0.5"),
    Rule("model.noise_std", "a number ≥ 0", number(at_least=0.0), example="0.1"),
    Rule("model.feature_dropout", "a probability in [0, 1)", number(at_least=0.0, below=1.0), example="0.2"),
    Rule("trainer.max_epochs", "an integer ≥ 1 for a model that trains (or -1: until early stopping stops it)",
         lambda v: v == -1 or (_is_int(v) and v >= 1), applies=_trains, example="100"),
    # backbones
    Rule("backbone.dropout", "a number in [0, 1)", number(at_least=0.0, below=1.0), example="0.0"),
    Rule("backbone.kernel_size", "an odd integer ≥ 1", lambda v: _is_int(v) and v >= 1 and v % 2 == 1,
         example="3"),
    Rule("backbone.hidden_dim", "an integer ≥ 1", integer(1), example="128"),
    # features
    Rule("feature.sr", "a sample rate in Hz, an integer ≥ 1000", integer(1000), example="22050"),
    Rule("feature.n_mfcc", "an integer ≥ 1", integer(1), example="20"),
    Rule("feature.n_mels", "an integer ≥ 1", integer(1), example="64"),
    Rule("feature.frames", "an integer ≥ 1", integer(1), example="128"),
    Rule("feature.n_fft", "an integer ≥ 16", integer(16), example="2048"),
    Rule("feature.hop_length", "an integer ≥ 1", integer(1), example="512"),
    Rule("feature.duration", "a number of seconds > 0, or null (whole file)", number(above=0.0, nullable=True),
         example="null"),
    Rule("feature.min_duration", "a number of seconds ≥ 0", number(at_least=0.0), example="0.5"),
    Rule("feature.svd_dims", "an integer ≥ 1, or null", integer(1, nullable=True), example="128"),
    Rule("feature.n_contrast_bands", "an integer ≥ 1", integer(1), example="6"),
    Rule("feature.contrast_fmin", "a frequency in Hz > 0", number(above=0.0), example="200.0"),
    Rule("feature.rolloff_percent", "a share in (0, 1)", number(above=0.0, below=1.0), example="0.85"),
    Rule("feature.n_jobs", "-1 (all cores) or an integer ≥ 1", lambda v: v == -1 or (_is_int(v) and v >= 1),
         example="-1"),
    Rule("feature.max_windows", "an integer ≥ 1, or null (every window)", integer(1, nullable=True), example="null"),
    # pretrained encoders (feature=pretrained_audio / lyrics_embed, alone or as a hybrid's parts)
    *(rule for prefix in ("feature", "feature.audio", "feature.lyrics") for rule in _pretrained_rules(prefix)),
    Rule("feature.device", "cpu (librosa), cuda, cuda:N or auto (torch; the GPU when there is one)",
         lambda v: isinstance(v, str) and re.fullmatch(r"cpu|auto|cuda(:\d+)?", v) is not None, example="cpu"),
    # executors (where extraction runs)
    Rule("executor.name", "local, or dask with Dask installed (pip install 'musiclust[dask]'; else executor=local)",
         lambda v: v == "local" or (v == "dask" and installed("distributed"))),
    Rule("executor.n_workers", "an integer ≥ 1, or null (feature.n_jobs)", integer(1, nullable=True), example="null"),
    Rule("executor.threads_per_worker", "an integer ≥ 1", integer(1), example="1"),
    # clusterers and reducers
    Rule("clusterer.n_init", "an integer ≥ 1", integer(1), example="10"),
    Rule("clusterer.n_neighbors", "an integer ≥ 2", integer(2), example="10"),
    Rule("clusterer.eps", "a radius > 0, or null (chosen from the data)", number(above=0.0, nullable=True),
         example="null"),
    Rule("clusterer.eps_quantile", "a share in (0, 1]", number(above=0.0, at_most=1.0), example="0.5"),
    Rule("clusterer.min_samples", "an integer ≥ 1, or null", integer(1, nullable=True), example="5"),
    Rule("clusterer.min_cluster_size", "an integer ≥ 2", integer(2), example="5"),
    Rule("reducer.n_components", "an integer ≥ 1", integer(1), example="10"),
    Rule("reducer.n_neighbors", "an integer ≥ 2", integer(2), example="20"),
    Rule("reducer.min_dist", "a number ≥ 0", number(at_least=0.0), example="0.0"),
    # outputs: what each cluster is (musiclust.outputs.clusters)
    Rule("outputs.clusters.n_representatives", "an integer ≥ 0", integer(0), example="5"),
    Rule("outputs.clusters.n_terms", "an integer ≥ 0", integer(0), example="8"),
    Rule("outputs.clusters.n_clips", "an integer ≥ 0", integer(0), example="2"),
    Rule("outputs.clusters.clip_seconds", "a number of seconds > 0", number(above=0.0), example="4.0"),
    Rule("outputs.clusters.clip_format", "opus, vorbis or mp3", one_of("opus", "vorbis", "mp3"), example="opus"),
    Rule("outputs.clusters.clip_compression", "a level in [0, 1]", number(at_least=0.0, at_most=1.0),
         example="0.95"),
    Rule("outputs.clusters.clip_sr", "a rate Opus encodes: 8000, 12000, 16000, 24000 or 48000",
         one_of(8000, 12000, 16000, 24000, 48000),
         applies=lambda cfg: OmegaConf.select(cfg, "outputs.clusters.clip_format", default="opus") == "opus",
         example="16000"),
    Rule("outputs.clusters.clip_sr", "an MPEG rate: 8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100 or 48000",
         one_of(8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000),
         applies=lambda cfg: OmegaConf.select(cfg, "outputs.clusters.clip_format", default="opus") == "mp3",
         example="16000"),
    Rule("outputs.clusters.clip_sr", "a sample rate in Hz, an integer ≥ 1000", integer(1000), example="16000"),
)


#: what Lightning's loggers need installed (they import it only once they log, after the features are computed)
LOGGER_PACKAGES: dict[str, tuple[tuple[str, ...], str]] = {
    "TensorBoardLogger": (("tensorboard", "tensorboardX"), "pip install tensorboard"),
    "MLFlowLogger": (("mlflow",), 'pip install "musiclust[mlflow]"'),
    "mlflow_logger": (("mlflow",), 'pip install "musiclust[mlflow]"'),  # musiclust.training.fit's, for file stores
}


def logger_problems(cfg: DictConfig) -> list[str]:
    """A logger group that is not one named node per logger, or a logger whose package is not installed."""
    loggers = OmegaConf.select(cfg, "logger", default=None)
    if not OmegaConf.is_dict(loggers):
        return []
    if "_target_" in loggers:
        return ["logger: holds one node with a _target_; the logger group names each logger (logger.csv._target_ "
                "...). Put yours under a name in its YAML file (mine: {_target_: ...}) and choose it with logger=..."]
    found = []
    for name in loggers:
        node = loggers.get(name)
        target = str(node.get("_target_", "")) if OmegaConf.is_dict(node) else ""
        modules, install = LOGGER_PACKAGES.get(target.rsplit(".", 1)[-1], ((), ""))
        if modules and not any(importlib.util.find_spec(module) for module in modules):
            found.append(f"logger.{name} ({target}) needs {modules[0]}, which is not installed: {install}, or choose "
                         "another logger (logger=csv).")
    return found


def problems(cfg: DictConfig) -> list[str]:
    """Every broken rule of :data:`RULES` and every logger that cannot work, one line each."""
    return [line for rule in RULES if (line := rule.problem(cfg)) is not None] + logger_problems(cfg)


def validate(cfg: DictConfig) -> None:
    """Stop before any work, with one message listing every invalid value and its fix."""
    found = problems(cfg)
    if found:
        raise ConfigError(found[0] if len(found) == 1 else "invalid settings:\n  " + "\n  ".join(found))


def validate_for_songs(cfg: DictConfig, n_songs: int) -> None:
    """Checks that need the number of songs: run once the dataset is read, before features and training."""
    found = []
    neighbours = OmegaConf.select(cfg, "clusterer.n_neighbors", default=None)
    affinity = OmegaConf.select(cfg, "clusterer.affinity", default="nearest_neighbors")
    if _is_int(neighbours) and affinity == "nearest_neighbors" and neighbours >= n_songs:
        found.append(f"clusterer.n_neighbors={neighbours} needs more songs than the {n_songs} in the dataset. "
                     f"Set clusterer.n_neighbors below {n_songs} (e.g. {max(2, min(10, n_songs // 3))}).")
    if found:
        raise ConfigError(found[0] if len(found) == 1 else "invalid settings:\n  " + "\n  ".join(found))


# -- the settings that identify a run in tables -------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """A column of every comparison: ``name``, read from ``key`` of a run's composed config (``group``: the config
    group whose choice it is, used when a config lacks the key)."""

    name: str
    key: str
    group: str | None = None
    #: a caveat rather than a choice: comparisons show it whenever a run has it, even when it does not vary
    flag: bool = False


#: one place for what identifies a run: the pipeline records these in clustering_metrics.csv and the comparison
#: tools read them back (or derive them from a run's .hydra/config.yaml when the run failed)
SETTINGS: tuple[Setting, ...] = (
    Setting("task", "task_name"),
    Setting("dataset", "dataset.name", "dataset"),
    Setting("feature", "feature.name", "feature"),
    Setting("metadata_col", "feature.metadata_col"),  # multimodal: the column fed in (leakage if = label_col)
    Setting("normalization", "normalization"),
    Setting("model", "model.name", "model"),
    Setting("backbone", "backbone.name", "backbone"),
    Setting("reducer", "reducer.name", "reducer"),
    Setting("clusterer", "clusterer.name", "clusterer"),
    Setting("k", "k"),
    Setting("seed", "seed"),
    Setting("label_col", "label_col"),
    # the detector(s) that filled `language` from the lyrics when label_col or cond_col is language (circular for
    # lyrics features); shown in every comparison where any run has it
    Setting("label_from_lyrics", "label_from_lyrics", flag=True),
    Setting("latent_dim", "model.latent_dim"),
    Setting("beta", "model.beta"),
    Setting("cond_col", "model.cond_col"),
)
SETTING_NAMES = tuple(setting.name for setting in SETTINGS)
FLAG_SETTINGS = tuple(setting.name for setting in SETTINGS if setting.flag)


def settings_of(cfg: DictConfig | None, choices: dict[str, Any] | None = None, **resolved: Any) -> dict[str, Any]:
    """The :data:`SETTINGS` of a run from its composed config (``''`` where a value is missing).

    ``choices`` are Hydra's group choices (``hydra.runtime.choices``), used when the config lacks a key;
    ``resolved`` gives values the run worked out itself (``k`` from ``k=auto``, the ``normalization`` policy used).
    A model without a backbone (PCA, raw) has no backbone setting.
    """
    choices = choices or {}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in resolved:
            value = resolved[setting.name]
        else:
            value = OmegaConf.select(cfg, setting.key, default=None, throw_on_resolution_failure=False) \
                if cfg is not None else None
            if value is None and setting.group:
                value = choices.get(setting.group)
        values[setting.name] = "" if value is None else value
    if cfg is not None and not OmegaConf.select(cfg, "model.uses_backbone", default=True):
        values["backbone"] = ""
    if values["reducer"] == "":
        values["reducer"] = "none"
    return values


def setting_of_override(key: str) -> str | None:
    """The setting a command-line override sets (``model.latent_dim`` → ``latent_dim``, ``model`` → ``model``)."""
    key = key.lstrip("+~")
    for setting in SETTINGS:
        if key in (setting.name, setting.key, setting.group):
            return setting.name
    return "task" if key == "task" else None
