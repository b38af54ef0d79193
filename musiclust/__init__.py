"""musiclust: Hydra-configured experiments for clustering music."""

import os

# OpenMP threads (torch, scikit-learn) that spin while they wait make runs several times slower when cores
# are shared (parallel sweep jobs, a busy machine); sleeping threads cost little when the cores are free.
# The OpenMP runtime reads this once when it loads, so it is set before torch or scikit-learn are imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
