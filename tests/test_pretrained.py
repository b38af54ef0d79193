"""feature=pretrained_audio: the real loading, windowing, batching, pooling and caching code on tiny local models
(CLAP, HuBERT, AST built at random and saved like Hub checkpoints), without network."""

import re
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from musiclust.config import validate
from musiclust.data.demo import DemoDataset
from musiclust.errors import ConfigError
from musiclust.features import PretrainedAudio
from musiclust.features.audio import decode
from musiclust.features.base import FeatureCache
from musiclust.features.pretrained import AudioEncoder, signal_windows
from musiclust.instantiate import build
from musiclust.pipeline import run_experiment
from tests.conftest import TINY_DEMO
from tests.pretrained_models import save_ast, save_clap, save_hubert, write_tone
from tests.test_matrix import LEAN, NO_RECON


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("pretrained")
    return {"clap": save_clap(root / "clap"), "clap_fused": save_clap(root / "clap_fused", fused=True),
            "hubert": save_hubert(root / "hubert"), "ast": save_ast(root / "ast")}


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test (runs never download by themselves)."""
    import socket

    monkeypatch.setattr(socket.socket, "connect", lambda self, *a: pytest.fail(f"network connection to {a}"))


def _feature(make_cfg, model_dir, *overrides):
    return build(make_cfg("feature=pretrained_audio", f"feature.model={model_dir}", "feature.n_jobs=1",
                          *overrides).feature)


def _metrics(run_dir):
    return pd.read_csv(run_dir / "clustering_metrics.csv").iloc[0]


@pytest.fixture
def songs(demo_root, tmp_path):
    """Four songs of the demo, one of them replaced by a 25-s file (three 10-s windows)."""
    manifest = DemoDataset(root=str(demo_root), **TINY_DEMO).load().iloc[:4].copy()
    manifest.loc[manifest.index[1], "audio_path"] = str(write_tone(tmp_path / "long.wav", 25.0, freq=220.0))
    return manifest


class _Spy:
    """Records the windows every forward pass of AudioEncoder.embed receives."""

    def __init__(self, monkeypatch):
        self.batches = []
        original = AudioEncoder.embed

        def embed(encoder, windows):
            self.batches.append([len(w) for w in windows])
            return original(encoder, windows)

        monkeypatch.setattr(AudioEncoder, "embed", embed)


def test_pretrained_clap_runs_on_the_demo_and_reruns_from_the_cache(make_cfg, models, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    overrides = ("feature=pretrained_audio", f"feature.model={models['clap']}", "model=pca", *LEAN, *NO_RECON)
    first = run_experiment(make_cfg(*overrides, run_dir=tmp_path / "a", cache_dir=cache))
    row = _metrics(tmp_path / "a")
    assert not row["features_from_cache"] and row["n_skipped"] == 0 and row["normalization"] == "l2"
    assert len(first.ids) == TINY_DEMO["n_songs"] and np.isfinite(first.z).all()

    monkeypatch.setattr(PretrainedAudio, "compute", lambda self, m: pytest.fail("features recomputed"))
    second = run_experiment(make_cfg(*overrides, run_dir=tmp_path / "b", cache_dir=cache))
    assert _metrics(tmp_path / "b")["features_from_cache"]
    np.testing.assert_array_equal(first.clusters, second.clusters)


def test_pretrained_clap_embedding_is_the_models_audio_features(make_cfg, models, songs):
    """The audio tower loaded alone gives what the whole CLAP model's get_audio_features gives (weights loaded,
    projection applied, unit length), window by window."""
    from transformers import ClapFeatureExtractor, ClapModel

    feature = _feature(make_cfg, models["clap"])
    signal, _ = decode(songs["audio_path"].iloc[0], 48000, None, 0.5)
    clap, extractor = ClapModel.from_pretrained(models["clap"]).eval(), ClapFeatureExtractor.from_pretrained(
        models["clap"])
    inputs = extractor([signal], sampling_rate=48000, return_tensors="pt")
    with torch.inference_mode():
        expected = clap.get_audio_features(input_features=inputs["input_features"],
                                           is_longer=torch.zeros((1, 1), dtype=torch.bool)).pooler_output[0]
    np.testing.assert_allclose(feature.from_signal(signal), expected.numpy(), atol=1e-5)


@pytest.mark.parametrize("kind, window_samples", [("clap", 480000), ("hubert", 160000)])
def test_pretrained_windows_cover_a_long_file(make_cfg, models, songs, monkeypatch, kind, window_samples):
    """A 25-s file in 10-s windows: 0-10, 10-20 and 15-25 s, pooled by their mean."""
    feature = _feature(make_cfg, models[kind], "feature.window_seconds=10" if kind == "hubert" else "feature.kind=clap")
    signal, _ = decode(songs["audio_path"].iloc[1], feature.sr, None, 0.5)
    assert len(signal) == 25 * feature.sr
    spy = _Spy(monkeypatch)
    pooled = feature.from_signal(signal)
    assert spy.batches == [[window_samples] * 3]
    encoder, sr = feature.encoder(), feature.sr
    windows = [signal[0:10 * sr], signal[10 * sr:20 * sr], signal[15 * sr:25 * sr]]
    np.testing.assert_allclose(pooled, np.mean([encoder.embed([w])[0] for w in windows], axis=0), atol=1e-5)


def test_pretrained_signal_windows_hop_and_short_tracks():
    signal = np.arange(25, dtype=np.float32)
    assert [w[0] for w in signal_windows(signal, 10, 10)] == [0, 10, 15]
    assert [w[0] for w in signal_windows(signal, 10, 5)] == [0, 5, 10, 15]  # half-window overlap ends at the end
    assert [len(w) for w in signal_windows(signal[:7], 10, 10)] == [7]  # shorter than a window: one, as it is
    assert [w[0] for w in signal_windows(np.arange(100), 10, 10, max_windows=3)] == [0, 40, 90]


@pytest.mark.parametrize("kind, width", [("clap", 24), ("clap_fused", 24), ("hubert", 16), ("ast", 16)])
def test_pretrained_batching_across_songs_matches_one_song_at_a_time(make_cfg, models, songs, monkeypatch, kind,
                                                                     width):
    feature = _feature(make_cfg, models[kind], "feature.batch_size=4")
    spy = _Spy(monkeypatch)
    together = feature.compute(songs)
    assert list(together.ids) == list(songs["id"]) and together.values.shape == (4, width)
    assert max(map(len, spy.batches)) > 1  # windows of several songs shared a forward pass
    for row, path in enumerate(songs["audio_path"]):
        alone = feature.from_signal(decode(path, feature.sr, None, 0.5)[0])
        np.testing.assert_allclose(together.values[row], alone, rtol=1e-4, atol=1e-5)


def test_pretrained_mean_std_doubles_the_width_in_two_blocks(make_cfg, models, songs):
    mean = _feature(make_cfg, models["hubert"]).compute(songs)
    both = _feature(make_cfg, models["hubert"], "feature.pooling=mean_std").compute(songs)
    assert mean.values.shape == (4, 16) and both.values.shape == (4, 32)
    np.testing.assert_allclose(both.values[:, :16], mean.values, atol=1e-6)
    assert both.values[1, 16:].min() > 0  # the 25-s song's three windows differ
    np.testing.assert_array_equal(both.values[[0, 2, 3], 16:], 0.0)  # a 2-s song is one window: no spread
    assert mean.normalization == "standard"
    assert [(b.name, b.width, b.policy) for b in both.normalization] == [("mean", 16, "standard"),
                                                                         ("std", 16, "standard")]


def test_pretrained_cache_key_follows_the_model_and_its_settings(make_cfg, models, tmp_path):
    def key(model_dir, *overrides):
        return FeatureCache.key("dataset", _feature(make_cfg, model_dir, *overrides).cache_config())

    base = key(models["clap"])
    assert key(models["clap"], "feature.batch_size=3", "feature.device=cpu", "feature.n_jobs=2") == base
    for overrides in (("feature.pooling=mean_std",), ("feature.window_seconds=5",), ("feature.hop_seconds=5",),
                      ("feature.max_windows=2",), ("feature.duration=1",)):
        assert key(models["clap"], *overrides) != base, overrides
    assert key(models["hubert"]) != base
    # the same directory, holding other weights of the same shape, is another model
    replaced = save_clap(tmp_path / "clap", seed=0)
    first = key(replaced)
    save_clap(replaced, seed=1)
    assert key(replaced) != first


def test_pretrained_missing_model_stops_before_any_audio_is_decoded(make_cfg, tmp_path, monkeypatch):
    import musiclust.features.pretrained as pretrained

    monkeypatch.setattr(pretrained, "decode", lambda *a: pytest.fail("audio decoded"))
    with pytest.raises(ConfigError) as caught:
        run_experiment(make_cfg("feature=pretrained_audio", "feature.model=musiclust-test/no-such-model",
                                "model=pca", *LEAN, cache_dir=tmp_path / "cache"))
    message = str(caught.value)
    assert "feature.model=musiclust-test/no-such-model: not a directory here, and not in the Hugging Face cache" \
        in message
    assert "hf download musiclust-test/no-such-model --local-dir data/models/no-such-model" in message
    assert "feature.model=data/models/no-such-model" in message and "feature.allow_download=true" in message
    with pytest.raises(ConfigError, match="no such directory"):
        _feature(make_cfg, tmp_path / "nowhere" / "model").cache_config()


def test_pretrained_allowed_download_without_network_is_one_message(make_cfg, monkeypatch):
    import socket

    def unreachable(*args, **kwargs):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "getaddrinfo", unreachable)
    monkeypatch.setattr(socket.socket, "connect", unreachable)
    feature = _feature(make_cfg, "musiclust-test/no-such-model", "feature.allow_download=true")
    with pytest.raises(ConfigError) as caught:
        feature.cache_config()
    message = str(caught.value)
    assert message.startswith("feature.model=musiclust-test/no-such-model: the download failed (")
    assert "hf download musiclust-test/no-such-model --local-dir data/models/no-such-model" in message
    assert "allow_download" not in message


def test_pretrained_never_trusts_remote_code_unless_asked(make_cfg, models, monkeypatch):
    import transformers

    calls = []
    for cls in (transformers.AutoFeatureExtractor, transformers.ClapAudioModelWithProjection):
        original = cls.from_pretrained.__func__

        def capture(klass, *args, _original=original, **kwargs):
            calls.append(kwargs)
            return _original(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(capture))
    _feature(make_cfg, models["clap"]).encoder()
    assert len(calls) == 2 and all(c["trust_remote_code"] is False and c["local_files_only"] is True for c in calls)
    calls.clear()
    _feature(make_cfg, models["clap"], "feature.trust_remote_code=true").encoder()
    assert all(c["trust_remote_code"] is True for c in calls)


def test_pretrained_kind_and_window_mismatches_name_the_fix(make_cfg, models):
    with pytest.raises(ConfigError, match="feature.kind=hubert, but .* is a 'clap' model. Set feature.kind=auto"):
        _feature(make_cfg, models["clap"], "feature.kind=hubert").encoder()
    with pytest.raises(ConfigError, match="takes at most 10 s in one pass"):
        _feature(make_cfg, models["clap"], "feature.window_seconds=20").window_samples()
    with pytest.raises(ConfigError, match="takes at most 1 s in one pass"):
        _feature(make_cfg, models["ast"], "feature.window_seconds=2").window_samples()


@pytest.mark.parametrize("override, message", [
    ("feature.pooling=max", "feature.pooling='max': must be mean or mean_std"),
    ("feature.kind=mert", "feature.kind='mert': must be auto, clap, hubert, wav2vec2 or ast"),
    ("feature.device=gpu", "feature.device='gpu': must be auto, cpu, cuda, cuda:<n> or mps"),
    ("feature.window_seconds=0", "feature.window_seconds=0: must be a number of seconds > 0"),
])
def test_pretrained_settings_are_validated(make_cfg, override, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate(make_cfg("feature=pretrained_audio", override))


def test_pretrained_without_the_extra_stops_before_any_work(make_cfg, monkeypatch):
    import musiclust.pipeline as pipeline

    monkeypatch.setitem(sys.modules, "transformers", None)  # as if not installed
    monkeypatch.setattr(pipeline, "load_songs", lambda cfg: pytest.fail("the dataset was read"))
    with pytest.raises(ConfigError, match=r"musiclust\[pretrained\]"):
        run_experiment(make_cfg("feature=pretrained_audio"))
    with pytest.raises(ConfigError, match=r"pip install 'musiclust\[pretrained\]'"):
        PretrainedAudio(model="any")
