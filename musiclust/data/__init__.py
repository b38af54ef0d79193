"""Datasets: each loads a manifest (one row per song) and knows its own fingerprint."""

from musiclust.data.demo import DemoDataset, generate_demo
from musiclust.data.manifest import Dataset, ManifestDataset, dataset_fingerprint

__all__ = ["Dataset", "DemoDataset", "ManifestDataset", "dataset_fingerprint", "generate_demo"]
