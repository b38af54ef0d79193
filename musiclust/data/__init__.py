"""Datasets: each loads a manifest (one row per song); songs are keyed by what features read of them."""

from musiclust.data.demo import DemoDataset, generate_demo
from musiclust.data.folder import FolderDataset
from musiclust.data.jamendo import JamendoDataset, download_jamendo
from musiclust.data.manifest import Dataset, ManifestDataset, song_keys

__all__ = [
    "Dataset", "DemoDataset", "FolderDataset", "JamendoDataset", "ManifestDataset", "song_keys",
    "download_jamendo", "generate_demo",
]
