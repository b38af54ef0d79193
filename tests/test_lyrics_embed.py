"""feature=lyrics_embed (sentence-transformers) and the hybrid of pretrained audio ⊕ lyrics_embed, on tiny local
models built at random and saved like Hub checkpoints, without network."""

import numpy as np
import pandas as pd
import pytest

from musiclust.data.demo import DemoDataset
from musiclust.errors import ConfigError
from musiclust.features import HybridFeature, LyricsEmbedding, PretrainedAudio
from musiclust.features.base import FeatureCache
from musiclust.features.text import lyric_pieces
from musiclust.instantiate import build
from musiclust.pipeline import run_experiment
from tests.conftest import TINY_DEMO
from tests.pretrained_models import save_clap, save_sentence_model
from tests.test_matrix import LEAN, NO_RECON


@pytest.fixture(scope="module")
def demo_lyrics(demo_root):
    return DemoDataset(root=str(demo_root), **TINY_DEMO).load()


@pytest.fixture(scope="module")
def sentence_model(tmp_path_factory, demo_lyrics):
    texts = [*demo_lyrics["lyrics"].fillna(""), "extra words"]
    return save_sentence_model(tmp_path_factory.mktemp("st") / "model", texts)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test (runs never download by themselves)."""
    import socket

    monkeypatch.setattr(socket.socket, "connect", lambda self, *a: pytest.fail(f"network connection to {a}"))


def _feature(make_cfg, model_dir, *overrides) -> LyricsEmbedding:
    return build(make_cfg("feature=lyrics_embed", f"feature.model={model_dir}", *overrides).feature)


def _metrics(run_dir):
    return pd.read_csv(run_dir / "clustering_metrics.csv").iloc[0]


def test_lyrics_embed_runs_on_the_demo_and_reruns_from_the_cache(make_cfg, sentence_model, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    overrides = ("feature=lyrics_embed", f"feature.model={sentence_model}", "model=pca", "label_col=language",
                 "k=2", *LEAN, *NO_RECON)
    first = run_experiment(make_cfg(*overrides, run_dir=tmp_path / "a", cache_dir=cache))
    row = _metrics(tmp_path / "a")
    assert not row["features_from_cache"] and row["normalization"] == "l2" and len(first.ids) == 36
    monkeypatch.setattr(LyricsEmbedding, "compute", lambda self, m: pytest.fail("features recomputed"))
    second = run_experiment(make_cfg(*overrides, run_dir=tmp_path / "b", cache_dir=cache))
    assert _metrics(tmp_path / "b")["features_from_cache"]
    np.testing.assert_array_equal(first.clusters, second.clusters)


def test_lyrics_embed_short_lyrics_are_the_models_sentence_embedding(make_cfg, sentence_model, demo_lyrics):
    """Lyrics that fit the sequence length are one piece: the song vector is the model's normalised embedding."""
    from sentence_transformers import SentenceTransformer

    songs = demo_lyrics.iloc[:6]
    feature = _feature(make_cfg, sentence_model, "feature.max_tokens=2000")
    features = feature.compute(songs)
    expected = SentenceTransformer(str(sentence_model), device="cpu").encode(
        ["\n".join(line.strip() for line in text.splitlines() if line.strip()) for text in songs["lyrics"]],
        normalize_embeddings=True)
    assert features.values.shape == (6, 16) and features.normalization == "l2"
    np.testing.assert_allclose(features.values, expected, atol=1e-5)


def test_lyrics_embed_long_lyrics_are_cut_into_pieces_and_pooled(make_cfg, sentence_model, demo_lyrics):
    feature = _feature(make_cfg, sentence_model, "feature.max_tokens=24")
    encoder = feature.load()
    limit = feature.piece_tokens(encoder)
    assert limit == 22  # [CLS] and [SEP] come on top
    texts = [*demo_lyrics["lyrics"].iloc[:3], "one line far longer than twenty two tokens of this model"]
    pieces, owners, sizes = lyric_pieces(texts, encoder.tokenizer, limit)
    counts = [len(ids) for ids in encoder.tokenizer(pieces, add_special_tokens=False)["input_ids"]]
    assert max(counts) <= limit and list(sizes) == counts
    assert np.bincount(owners).min() >= 2  # every text here needs several pieces
    for index, text in enumerate(texts):  # every word, in order, cut only where a word starts
        assert " ".join(p for p, o in zip(pieces, owners, strict=True) if o == index).split() == text.split()
    # a song is the token-weighted mean of its pieces' unit vectors, back to unit length
    vectors = encoder.encode(pieces, normalize_embeddings=True)
    values = feature.compute(pd.DataFrame({"id": ["a", "b", "c", "d"], "lyrics": texts})).values
    for index in range(4):
        mean = (vectors[owners == index] * sizes[owners == index, None]).sum(axis=0)
        np.testing.assert_allclose(values[index], mean / np.linalg.norm(mean), atol=1e-5)


def test_lyrics_embed_uses_lyrics_clean_and_skips_empty_lyrics(make_cfg, sentence_model):
    manifest = pd.DataFrame({"id": ["a", "b", "c"], "lyrics": ["x", "y", "z"],
                             "lyrics_clean": ["hello world", "  ", "আমার সোনার"]})
    features = _feature(make_cfg, sentence_model).compute(manifest)
    assert list(features.ids) == ["a", "c"]
    assert features.skipped.set_index("id").loc["b", "reason"] == "empty lyrics: no text in column 'lyrics_clean'"
    np.testing.assert_allclose(np.linalg.norm(features.values, axis=1), 1.0, atol=1e-6)


def test_lyrics_embed_missing_model_names_the_download(make_cfg, tmp_path, monkeypatch):
    monkeypatch.setattr(LyricsEmbedding, "compute", lambda self, m: pytest.fail("lyrics embedded"))
    with pytest.raises(ConfigError) as caught:
        run_experiment(make_cfg("feature=lyrics_embed", "feature.model=musiclust-test/no-such-encoder", "model=pca",
                                *LEAN, cache_dir=tmp_path / "cache"))
    assert "hf download musiclust-test/no-such-encoder --local-dir data/models/no-such-encoder" in str(caught.value)
    assert "feature.model=data/models/no-such-encoder" in str(caught.value)


def test_lyrics_embed_never_trusts_remote_code_unless_asked(make_cfg, sentence_model, monkeypatch):
    import sentence_transformers

    calls = []
    original = sentence_transformers.SentenceTransformer.__init__

    def capture(self, *args, **kwargs):
        calls.append(kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(sentence_transformers.SentenceTransformer, "__init__", capture)
    _feature(make_cfg, sentence_model).load()
    _feature(make_cfg, sentence_model, "feature.trust_remote_code=true").load()
    assert [(c["trust_remote_code"], c["local_files_only"]) for c in calls] == [(False, True), (True, True)]


def test_lyrics_embed_cache_key_follows_the_model(make_cfg, sentence_model, demo_lyrics, tmp_path):
    def key(model_dir, *overrides):
        return FeatureCache.key("dataset", _feature(make_cfg, model_dir, *overrides).cache_config())

    base = key(sentence_model)
    assert key(sentence_model, "feature.batch_size=2", "feature.device=cpu") == base
    assert key(sentence_model, "feature.max_tokens=16") != base
    other = save_sentence_model(tmp_path / "other", list(demo_lyrics["lyrics"].fillna("")), seed=1)
    assert key(other) != base


HYBRID = ("feature=hybrid", "feature@feature.audio=pretrained_audio", "feature.audio_embedding=null",
          "feature@feature.lyrics=lyrics_embed", "feature.svd_dims=8")


def test_hybrid_of_pretrained_audio_and_lyrics_embed_end_to_end(make_cfg, sentence_model, tmp_path, monkeypatch):
    clap = save_clap(tmp_path / "clap")
    cache = tmp_path / "cache"
    overrides = (*HYBRID, f"feature.audio.model={clap}", f"feature.lyrics.model={sentence_model}", "model=raw",
                 *LEAN, *NO_RECON)
    first = run_experiment(make_cfg(*overrides, run_dir=tmp_path / "a", cache_dir=cache))
    row = _metrics(tmp_path / "a")
    assert not row["features_from_cache"] and row["normalization"] == "none" and row["latent_dims"] == 8
    assert len(first.ids) == 36 and np.isfinite(first.z).all()

    for cls in (HybridFeature, PretrainedAudio, LyricsEmbedding):
        monkeypatch.setattr(cls, "compute", lambda self, m: pytest.fail("features recomputed"))
    second = run_experiment(make_cfg(*overrides, run_dir=tmp_path / "b", cache_dir=cache))
    assert _metrics(tmp_path / "b")["features_from_cache"]
    np.testing.assert_array_equal(first.clusters, second.clusters)


def test_hybrid_blocks_of_pretrained_parts_and_their_cache_key(make_cfg, sentence_model, demo_lyrics, tmp_path):
    clap = save_clap(tmp_path / "clap")
    node = make_cfg(*HYBRID, f"feature.audio.model={clap}", f"feature.lyrics.model={sentence_model}").feature
    hybrid = build(node)
    assert hybrid.audio_embedding is None and hybrid.audio.config_key == "feature.audio"
    audio = hybrid.audio.compute(demo_lyrics.iloc[:8])
    block = hybrid.embed_audio(audio)  # the CLAP vectors by their own policy: unit rows
    np.testing.assert_allclose(np.linalg.norm(block, axis=1), 1.0, atol=1e-5)

    base = FeatureCache.key("dataset", hybrid.cache_config())
    save_clap(clap, seed=1)  # other audio weights in the same directory
    assert FeatureCache.key("dataset", build(node).cache_config()) != base


def test_hybrid_without_audio_model_refuses_maps(make_cfg, sentence_model):
    with pytest.raises(ConfigError, match="feature.audio_embedding=null .* gives windows of time-frequency maps"):
        build(make_cfg("feature=hybrid", "feature@feature.audio=logmelspec", "feature.audio_embedding=null").feature)


def test_hybrid_pretrained_missing_model_names_the_nested_key(make_cfg, sentence_model, tmp_path):
    node = make_cfg(*HYBRID, "feature.audio.model=musiclust-test/no-such-model",
                    f"feature.lyrics.model={sentence_model}").feature
    with pytest.raises(ConfigError, match="feature.audio.model=musiclust-test/no-such-model: not a directory"):
        build(node).cache_config()
