"""Tiny randomly initialised pretrained models, saved the way the Hugging Face Hub ships them, for tests without
network: a CLAP (audio tower small), a HuBERT, an AST and a sentence-transformers model over a tiny BERT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def save_clap(path: Path, seed: int = 0, fused: bool = False) -> Path:
    """A CLAP checkpoint (both towers, as laion/clap-htsat-unfused, or -fused: 4-channel input, feature fusion)
    with a 48 kHz, 10-s feature extractor."""
    import torch
    from transformers import ClapConfig, ClapFeatureExtractor, ClapModel

    torch.manual_seed(seed)
    # spec_size × (spec_size // num_mel_bins) ≥ the 1001 frames of a 10-s window: the model's input size
    audio = dict(num_mel_bins=16, window_size=4, spec_size=128, patch_size=2, patch_stride=2, hidden_size=32,
                 patch_embeds_hidden_size=16, depths=[2, 2], num_attention_heads=[2, 2], num_hidden_layers=2,
                 enable_fusion=fused, fusion_type="aff_2d" if fused else None)
    text = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37)
    ClapModel(ClapConfig(audio_config=audio, text_config=text, projection_dim=24)).save_pretrained(path)
    ClapFeatureExtractor(feature_size=16, truncation="fusion" if fused else "rand_trunc").save_pretrained(path)
    return path


def save_hubert(path: Path, seed: int = 0) -> Path:
    """A HuBERT encoder with a 16 kHz wav2vec2 feature extractor."""
    import torch
    from transformers import HubertConfig, HubertModel, Wav2Vec2FeatureExtractor

    torch.manual_seed(seed)
    config = HubertConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                          conv_dim=(8, 8), conv_stride=(10, 8), conv_kernel=(20, 16), num_conv_pos_embeddings=16,
                          num_conv_pos_embedding_groups=2, vocab_size=8)
    HubertModel(config).save_pretrained(path)
    Wav2Vec2FeatureExtractor(sampling_rate=16000, do_normalize=True, return_attention_mask=False).save_pretrained(path)
    return path


def save_ast(path: Path, seed: int = 0) -> Path:
    """An Audio Spectrogram Transformer taking 100 frames (1 s) of 16 mel bands."""
    import torch
    from transformers import ASTConfig, ASTFeatureExtractor, ASTModel

    torch.manual_seed(seed)
    ASTModel(ASTConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                       frequency_stride=10, time_stride=10, max_length=100, num_mel_bins=16)).save_pretrained(path)
    ASTFeatureExtractor(num_mel_bins=16, max_length=100).save_pretrained(path)
    return path


def save_sentence_model(path: Path, texts: list[str], max_seq_length: int = 32, seed: int = 0) -> Path:
    """A sentence-transformers model: a tiny BERT with a character WordPiece vocabulary of ``texts`` (Latin and
    Bengali script alike) and mean pooling, saved with ``SentenceTransformer.save``."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import BertConfig, BertModel, BertTokenizerFast

    torch.manual_seed(seed)
    chars = sorted(set("".join(texts)) - set(" \t\r\n"))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *chars, *(f"##{c}" for c in chars)]
    bert = path.parent / f"{path.name}-bert"
    BertModel(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=32, max_position_embeddings=64)).save_pretrained(bert)
    BertTokenizerFast(vocab={token: i for i, token in enumerate(vocab)}, do_lower_case=False).save_pretrained(bert)
    transformer = Transformer(str(bert), max_seq_length=max_seq_length)
    pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(path))
    return path


def write_tone(path: Path, seconds: float, sr: int = 22050, freq: float = 440.0, seed: int = 0) -> Path:
    """A tone with a little noise (never silent), as a WAV file."""
    t = np.arange(int(seconds * sr)) / sr
    noise = np.random.default_rng(seed).normal(scale=0.05, size=t.size)
    sf.write(path, (0.3 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32), sr)
    return path
