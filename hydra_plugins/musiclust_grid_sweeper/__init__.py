"""Hydra sweeper plugin ``hydra/sweeper=grid`` (Hydra only loads sweepers from the ``hydra_plugins`` package)."""
