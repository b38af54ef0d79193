"""musiclust: Hydra-configured experiments for clustering music (importing it changes nothing in the process)."""

__version__ = "0.1.0"
