"""Datasets: each loads a manifest (one row per song) and knows its own fingerprint."""

from musiclust.data.demo import DemoDataset, generate_demo
from musiclust.data.folder import FolderDataset
from musiclust.data.jamendo import JamendoDataset, download_jamendo
from musiclust.data.manifest import Dataset, ManifestDataset, dataset_fingerprint

__all__ = [
    "Dataset", "DemoDataset", "FolderDataset", "JamendoDataset", "ManifestDataset", "dataset_fingerprint",
    "download_jamendo", "generate_demo",
]
