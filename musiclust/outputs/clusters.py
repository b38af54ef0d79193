"""What each cluster is: ``clusters.csv`` (one row per cluster) and ``clusters/`` (the details the report shows).

For every cluster, in the display order of :mod:`musiclust.outputs.palette` (matched to the labels when the run
has a ``label_col``):

- its size, share, the label it is matched to (Hungarian, as the ``acc`` metric) and its majority label, and its
  composition over ``label_col`` and the ``plot_columns``;
- its most representative songs: the ones closest to the cluster's mean embedding (the space the internal
  metrics use); noise has no centre and no representatives;
- for lyrics, the n-grams that set it apart from the other clusters: class-based TF-IDF as BERTopic computes it
  (every cluster's lyrics as one document, no n-gram across two songs; the square root of the term frequency
  L1-normalised per cluster × log(1 + A / f), A the average number of terms per cluster, f the term's count over
  all clusters), over words split on anything that is not a letter or a combining mark, so Bengali words keep
  their vowel signs;
- for audio, short clips of its first representatives: mono, low sample rate, Ogg/Opus at about 20 kbit/s
  (``clusters/clips/*.ogg``, a few kB each), which the HTML report embeds as ``<audio>`` elements.

``clusters/clusters.json`` holds the same per-cluster data with the details (each representative's labels and
distance, each n-gram's score, the clip files) for ``musiclust-compare --html``.
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from musiclust.columns import AUDIO, CLEAN_LYRICS, LYRICS
from musiclust.io import atomic_path, write_csv, write_json
from musiclust.layout import CLIP_DIR, CLUSTER_DIR, CLUSTER_JSON, CLUSTERS_FILE
from musiclust.outputs.palette import NOISE, RunColours, label_names, natural_key, run_colours
from musiclust.outputs.result import OutputStep, RunResult

log = logging.getLogger(__name__)

#: clip encodings soundfile (libsndfile) writes: name → (container, codec, file suffix, MIME type)
CLIP_FORMATS = {
    "opus": ("OGG", "OPUS", ".ogg", "audio/ogg"),
    "vorbis": ("OGG", "VORBIS", ".ogg", "audio/ogg"),
    "mp3": ("MP3", "MPEG_LAYER_III", ".mp3", "audio/mpeg"),
}
#: fade in and out of a clip, so it starts and stops without a click
FADE_SECONDS = 0.05
_APOSTROPHES = "'’"


class _WordCharacters(dict):
    """A ``str.translate`` table, filled as characters are met: letters, combining marks (vowel signs, viramas,
    diacritics) and apostrophes stay, anything else becomes a space."""

    def __missing__(self, code: int) -> int:
        ch = chr(code)
        self[code] = code if unicodedata.category(ch)[0] in "LM" or ch in _APOSTROPHES else ord(" ")
        return self[code]


_WORD_CHARACTERS = _WordCharacters()


def lyric_words(text: str) -> list[str]:
    """Words of a lyric: runs of letters and combining marks (so ``ভালোবাসা`` stays one word: Python's ``\\w``
    splits it at its vowel signs), apostrophes kept inside words, lower-cased."""
    words = str(text).lower().translate(_WORD_CHARACTERS).split()
    return [word for word in (w.strip(_APOSTROPHES) for w in words) if word]


def class_tfidf(texts: Sequence[str], clusters: Sequence[str], ngram_range: tuple[int, int] = (1, 2),
                stop_words: str | list[str] | None = None, reduce_frequent_words: bool = True) -> pd.DataFrame:
    """c-TF-IDF (BERTopic's class-based TF-IDF): a clusters × n-grams frame of scores, one document per cluster.

    ``reduce_frequent_words`` takes the square root of the term frequencies first (BERTopic's option of that
    name), so words frequent in every cluster ("love", "night") do not outrank the ones that set a cluster apart.
    """
    from scipy import sparse
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.preprocessing import normalize

    texts = np.array([str(t) for t in texts], dtype=object)
    clusters = np.array([str(c) for c in clusters], dtype=object)
    keep = np.array([bool(t.strip()) for t in texts], dtype=bool)
    if not keep.any():
        return pd.DataFrame()
    names, members = np.unique(clusters[keep], return_inverse=True)
    vectorizer = CountVectorizer(tokenizer=lyric_words, token_pattern=None, lowercase=False,
                                 ngram_range=tuple(ngram_range), stop_words=stop_words)
    try:
        per_song = vectorizer.fit_transform(texts[keep])
    except ValueError:  # nothing but stop words / no letters at all
        return pd.DataFrame()
    # one document per cluster, without n-grams across two songs' boundary: the sum of its songs' counts
    indicator = sparse.csr_matrix((np.ones(len(members)), (members, np.arange(len(members)))),
                                  shape=(len(names), len(members)))
    counts = indicator @ per_song
    frequency = np.asarray(counts.sum(axis=0)).ravel()
    average = float(np.asarray(counts.sum(axis=1)).mean())
    idf = np.log(1.0 + average / frequency)
    frequencies = normalize(counts, norm="l1", axis=1)
    if reduce_frequent_words:
        frequencies = frequencies.sqrt()
    scores = frequencies.multiply(idf).toarray()
    return pd.DataFrame(scores, index=names, columns=vectorizer.get_feature_names_out())


def top_terms(scores: pd.DataFrame, cluster: str, n_terms: int) -> list[tuple[str, float]]:
    """The ``n_terms`` best-scoring n-grams of one cluster (only those it contains), best first, ties by name."""
    if cluster not in scores.index:
        return []
    row = scores.loc[cluster]
    row = row[row > 0]
    order = sorted(row.items(), key=lambda item: (-item[1], item[0]))
    return [(term, float(score)) for term, score in order[:n_terms]]


def representatives(z: np.ndarray, clusters: np.ndarray, cluster: str, n: int) -> list[tuple[int, float]]:
    """(row, distance) of the ``n`` songs of ``cluster`` closest to its mean embedding, closest first."""
    members = np.flatnonzero(clusters == cluster)
    if cluster == NOISE or not len(members) or n <= 0:
        return []
    points = np.asarray(z[members], dtype=np.float64)
    distance = np.linalg.norm(points - points.mean(axis=0), axis=1)
    order = np.lexsort((members, distance))[:n]  # ties: the earlier song first, so reruns agree
    return [(int(members[i]), float(distance[i])) for i in order]


def write_clip(source: str, target: Path, seconds: float, sr: int, fmt: str = "opus",
               compression: float = 0.95) -> bool:
    """A ``seconds``-long mono clip from the middle of ``source``, resampled to ``sr`` and encoded as ``fmt``;
    False (with a warning) when the audio cannot be read."""
    import soundfile as sf

    container, codec, _, _ = CLIP_FORMATS[fmt]
    try:
        with sf.SoundFile(source) as audio:
            length = min(audio.frames, int(seconds * audio.samplerate))
            audio.seek(max(0, (audio.frames - length) // 2))
            samples, native = audio.read(length, dtype="float32", always_2d=True), audio.samplerate
    except Exception as err:  # noqa: BLE001 - a song whose audio went missing loses its clip, not the run
        log.warning("No clip for %s: %s", source, err)
        return False
    signal = samples.mean(axis=1)
    if native != sr and signal.size:
        import librosa

        signal = librosa.resample(signal, orig_sr=native, target_sr=sr)
    fade = min(len(signal) // 2, int(FADE_SECONDS * sr))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        signal[:fade] *= ramp
        signal[-fade:] *= ramp[::-1]
    peak = float(np.max(np.abs(signal))) if signal.size else 0.0
    if peak > 0:
        signal = signal * (0.9 / peak)
    with atomic_path(target) as tmp:
        sf.write(tmp, signal.astype(np.float32), sr, format=container, subtype=codec, compression_level=compression)
    return True


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("_") or "song"


def _composition(values: np.ndarray) -> dict[str, int]:
    """Songs per value, most frequent first (ties in natural order)."""
    counts = pd.Series(values, dtype=object).astype(str).value_counts()
    return {name: int(counts[name]) for name in sorted(counts.index, key=lambda n: (-int(counts[n]), natural_key(n)))}


class ClusterSummary(OutputStep):
    """``clusters.csv`` + ``clusters/clusters.json`` + ``clusters/clips/``: size, label composition,
    representative songs, distinguishing lyrics n-grams and audio clips of every cluster."""

    def __init__(self, n_representatives: int = 5, n_terms: int = 8, ngram_range: Sequence[int] = (1, 2),
                 stop_words: str | list[str] | None = None, reduce_frequent_words: bool = True, n_clips: int = 2,
                 clip_seconds: float = 3.0, clip_sr: int = 16000, clip_format: str = "opus",
                 clip_compression: float = 0.95) -> None:
        self.n_representatives, self.n_terms = int(n_representatives), int(n_terms)
        self.ngram_range = (int(ngram_range[0]), int(ngram_range[1]))
        self.stop_words = stop_words if stop_words is None or isinstance(stop_words, str) else list(stop_words)
        self.reduce_frequent_words = bool(reduce_frequent_words)
        self.n_clips, self.clip_seconds, self.clip_sr = int(n_clips), float(clip_seconds), int(clip_sr)
        self.clip_format, self.clip_compression = str(clip_format), float(clip_compression)

    def write(self, result: RunResult) -> None:
        names = result.cluster_names()
        label_col = result.settings.get("label_col") or None
        labels = label_names(result.manifest[label_col]) if label_col else None
        colours = run_colours(names, labels)
        columns = list(dict.fromkeys(c for c in [label_col, *result.plot_columns] if c and c in result.manifest))
        shown = {c: label_names(result.manifest[c]) for c in columns}
        terms = self._terms(result.manifest, names)
        clusters = [self._cluster(result, names, name, colours, shown, terms) for name in colours.clusters]
        rows = [self._row(entry, label_col) for entry in clusters]
        write_csv(pd.DataFrame(rows), result.run_dir / CLUSTERS_FILE)
        write_json({"label_col": label_col, "columns": columns, "clip_format": self.clip_format,
                    "labels": [{"name": n, "colour": colours.of_label(n).colour} for n in colours.labels],
                    "clusters": clusters}, result.run_dir / CLUSTER_DIR / CLUSTER_JSON)

    def _terms(self, manifest: pd.DataFrame, names: np.ndarray) -> pd.DataFrame:
        column = CLEAN_LYRICS if CLEAN_LYRICS in manifest else LYRICS if LYRICS in manifest else None
        if column is None or self.n_terms <= 0:
            return pd.DataFrame()
        texts = manifest[column].fillna("").astype(str).to_numpy()
        return class_tfidf(texts, names, self.ngram_range, self.stop_words, self.reduce_frequent_words)

    def _cluster(self, result: RunResult, names: np.ndarray, name: str, colours: RunColours,
                 shown: dict[str, np.ndarray], terms: pd.DataFrame) -> dict[str, Any]:
        members = names == name
        ids = np.asarray(result.ids).astype(str)
        picked = representatives(result.z, names, name, self.n_representatives)
        has_audio = AUDIO in result.manifest
        songs = []
        for rank, (row, distance) in enumerate(picked):
            song = {"id": ids[row], "distance": round(distance, 4),
                    "labels": {c: str(values[row]) for c, values in shown.items()}, "clip": None}
            if has_audio and rank < self.n_clips:
                suffix = CLIP_FORMATS[self.clip_format][2]
                relative = f"{CLIP_DIR}/{_safe(name)}_{rank + 1}_{_safe(ids[row])}{suffix}"
                source = result.manifest[AUDIO].iloc[row]
                if isinstance(source, str) and source and write_clip(
                        source, result.run_dir / CLUSTER_DIR / relative, self.clip_seconds, self.clip_sr,
                        self.clip_format, self.clip_compression):
                    song["clip"] = relative
            songs.append(song)
        size = int(members.sum())
        cluster_id = int(np.asarray(result.clusters)[members][0])
        return {
            "cluster": cluster_id, "name": name, "title": colours.cluster_title(name),
            "colour": colours.of_cluster(name).colour, "size": size, "share": round(size / len(names), 4),
            "matched_label": colours.matched.get(name), "majority_label": colours.majority.get(name),
            "composition": {c: _composition(values[members]) for c, values in shown.items()},
            "representatives": songs,
            "ngrams": [{"term": t, "score": round(s, 5)} for t, s in top_terms(terms, name, self.n_terms)],
        }

    @staticmethod
    def _row(entry: dict[str, Any], label_col: str | None) -> dict[str, Any]:
        composition = entry["composition"].get(label_col, {}) if label_col else {}
        majority = entry["majority_label"]
        return {
            "cluster": entry["cluster"], "cluster_name": entry["name"], "colour": entry["colour"],
            "size": entry["size"], "share": entry["share"],
            "matched_label": entry["matched_label"] or "", "majority_label": majority or "",
            "majority_share": round(composition.get(majority, 0) / entry["size"], 4) if majority else math.nan,
            "composition": "; ".join(f"{k} {v}" for k, v in composition.items()),
            "representatives": "; ".join(song["id"] for song in entry["representatives"]),
            "ngrams": "; ".join(term["term"] for term in entry["ngrams"]),
            "clips": "; ".join(f"{CLUSTER_DIR}/{song['clip']}" for song in entry["representatives"] if song["clip"]),
        }

