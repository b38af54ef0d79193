"""Training: the datamodule (normalisation, conditioning, windows → songs) and the one fit-and-embed path."""

from musiclust.training.datamodule import MusicDataModule
from musiclust.training.fit import (
    ModelEmbedding,
    build_model,
    build_trainer,
    fit_and_embed,
    prepare,
    strategy_name,
)

__all__ = ["ModelEmbedding", "MusicDataModule", "build_model", "build_trainer", "fit_and_embed", "prepare",
           "strategy_name"]
