"""musiclust: Hydra-configured experiments for clustering music."""

__version__ = "0.1.0"
