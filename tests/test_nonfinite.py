"""One damaged song is skipped, not fatal: a recording whose features come out NaN/inf goes to skipped.csv."""

import numpy as np
import pandas as pd
import soundfile as sf

from musiclust.pipeline import run_experiment
from tests.conftest import compose_config
from tests.music_fixtures import SR, write_song


def test_a_song_with_non_finite_features_is_skipped_and_the_run_finishes(tmp_path, shared_cache):
    root = tmp_path / "music"
    for genre in ("rock", "folk", "ambient"):
        for i in range(4):
            write_song(root / genre / f"{genre}_{i}.wav", genre, seed=10 * i + len(genre))
    loud = write_song(tmp_path / "loud.wav", "rock", seed=99)
    samples, _ = sf.read(loud, dtype="float32")
    sf.write(root / "rock" / "overflow.wav", samples * np.float32(1e30), SR, subtype="FLOAT")  # finite samples

    cfg = compose_config(["dataset=folder", f"dataset.path={root}", f"paths.cache_dir={shared_cache}",
                          "model=pca", "k=3", "feature.n_jobs=1", "~outputs.projections"], tmp_path / "run")
    result = run_experiment(cfg)
    skipped = pd.read_csv(tmp_path / "run" / "skipped.csv")
    assert skipped["id"].tolist() == ["rock/overflow"]
    assert skipped["reason"].iloc[0].startswith("non-finite features")
    assert len(result.ids) == 12 and "rock/overflow" not in set(result.ids)
    assert np.isfinite(result.z).all() and result.metrics["n_skipped"] == 1
