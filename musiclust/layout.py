"""Names of the files in a run dir: one place, importable without torch (sweep launchers, compare)."""

METRICS_FILE = "clustering_metrics.csv"
LATENTS_FILE = "latents.npz"
ERROR_FILE = "error.txt"
SKIPPED_FILE = "skipped.csv"
FINGERPRINT_FILE = "config_fingerprint.txt"
HYDRA_DIR = ".hydra"
