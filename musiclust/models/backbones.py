"""Encoder/decoder pairs. ``mlp`` works on vectors, ``conv2d`` on (C, F, T) time-frequency maps."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from musiclust.errors import ConfigError


class Backbone:
    """Builds an encoder (input → hidden vector) and a decoder (latent → input shape)."""

    name = "backbone"

    def check_input(self, input_shape: tuple[int, ...], source: str = "the feature", option: str | None = None) -> None:
        """Raise a ConfigError naming ``source`` (e.g. ``feature=mfcc``) and ``option`` (default
        ``backbone=<name>``) when this backbone cannot take inputs of ``input_shape``."""
        raise NotImplementedError

    def build_encoder(self, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
        raise NotImplementedError

    def build_decoder(self, in_dim: int, input_shape: tuple[int, ...]) -> nn.Module:
        raise NotImplementedError


def _mlp(dims: Sequence[int], dropout: float) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for a, b in zip(dims[:-1], dims[1:], strict=True):
        layers += [nn.Linear(a, b), nn.LeakyReLU(0.1)]
        if dropout:
            layers.append(nn.Dropout(dropout))
    return layers


class MLPBackbone(Backbone):
    """Fully connected encoder/decoder for vector features (``flatten=true`` accepts maps on purpose)."""

    name = "mlp"

    def __init__(self, hidden_dims: Sequence[int] = (256, 128), dropout: float = 0.0, flatten: bool = False):
        self.hidden_dims = [int(h) for h in hidden_dims]
        self.dropout = float(dropout)
        self.flatten = bool(flatten)

    def check_input(self, input_shape: tuple[int, ...], source: str = "the feature", option: str | None = None) -> None:
        option = option or f"backbone={self.name}"
        if len(input_shape) != 1 and not self.flatten:
            raise ConfigError(
                f"{option} takes vectors, but {source} gives time-frequency maps of shape {tuple(input_shape)}. "
                f"Use backbone=conv2d for map features (mfcc_frames, logmelspec), "
                f"or {option.split('=')[0]}.flatten=true to flatten the map on purpose."
            )

    def build_encoder(self, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
        self.check_input(input_shape)
        in_dim = math.prod(input_shape)
        layers = [nn.Flatten()] + _mlp([in_dim, *self.hidden_dims], self.dropout)
        return nn.Sequential(*layers), self.hidden_dims[-1] if self.hidden_dims else in_dim

    def build_decoder(self, in_dim: int, input_shape: tuple[int, ...]) -> nn.Module:
        dims = [in_dim, *reversed(self.hidden_dims)]
        return nn.Sequential(
            *_mlp(dims, self.dropout), nn.Linear(dims[-1], math.prod(input_shape)), nn.Unflatten(1, input_shape)
        )


class Conv2dBackbone(Backbone):
    """Strided Conv2d encoder and ConvTranspose2d decoder over (frequency, time)."""

    name = "conv2d"

    def __init__(self, channels: Sequence[int] = (16, 32, 64), kernel_size: int = 3, hidden_dim: int = 128):
        self.channels = [int(c) for c in channels]
        self.kernel_size = int(kernel_size)
        self.hidden_dim = int(hidden_dim)

    def check_input(self, input_shape: tuple[int, ...], source: str = "the feature", option: str | None = None) -> None:
        option = option or f"backbone={self.name}"
        if len(input_shape) != 3:
            raise ConfigError(
                f"{option} needs (channels, frequency, time) maps, but {source} gives vectors of shape "
                f"{tuple(input_shape)}. Use backbone=mlp for vector features (mfcc, lyrics_tfidf, hybrid, "
                "multimodal), or a map feature (feature=logmelspec or feature=mfcc_frames) with conv2d."
            )

    def _reduced(self, input_shape: tuple[int, ...]) -> tuple[int, int]:
        _, height, width = input_shape
        for _ in self.channels:
            height, width = math.ceil(height / 2), math.ceil(width / 2)
        return height, width

    def build_encoder(self, input_shape: tuple[int, ...]) -> tuple[nn.Module, int]:
        self.check_input(input_shape)
        pad = self.kernel_size // 2
        layers: list[nn.Module] = []
        in_ch = input_shape[0]
        for ch in self.channels:
            layers += [nn.Conv2d(in_ch, ch, self.kernel_size, stride=2, padding=pad), nn.BatchNorm2d(ch),
                       nn.LeakyReLU(0.1)]
            in_ch = ch
        height, width = self._reduced(input_shape)
        layers += [nn.Flatten(), nn.Linear(in_ch * height * width, self.hidden_dim), nn.LeakyReLU(0.1)]
        return nn.Sequential(*layers), self.hidden_dim

    def build_decoder(self, in_dim: int, input_shape: tuple[int, ...]) -> nn.Module:
        return _ConvDecoder(in_dim, input_shape, self.channels, self.kernel_size, self._reduced(input_shape))


class _ConvDecoder(nn.Module):
    def __init__(self, in_dim, input_shape, channels, kernel_size, reduced):
        super().__init__()
        self.input_shape = tuple(input_shape)
        self.start = (channels[-1], *reduced)
        self.fc = nn.Sequential(nn.Linear(in_dim, math.prod(self.start)), nn.LeakyReLU(0.1))
        layers: list[nn.Module] = []
        pad = kernel_size // 2
        outs = [*reversed(channels[:-1]), input_shape[0]]
        in_ch = channels[-1]
        for i, ch in enumerate(outs):
            layers.append(nn.ConvTranspose2d(in_ch, ch, kernel_size, stride=2, padding=pad, output_padding=1))
            if i < len(outs) - 1:
                layers += [nn.BatchNorm2d(ch), nn.LeakyReLU(0.1)]
            in_ch = ch
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.deconv(self.fc(z).view(-1, *self.start))
        _, height, width = self.input_shape
        return out[:, :, :height, :width]
