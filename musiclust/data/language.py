"""Language of the lyrics: an offline language identifier (lingua), or the writing-system heuristic.

``dataset.language_detector`` chooses how missing ``language`` values are filled from the lyrics:

- ``lingua`` (default): `lingua <https://github.com/pemistahl/lingua-py>`_, whose n-gram models ship inside the
  package (no network), restricted to ``dataset.language_candidates`` (default :data:`DEFAULT_CANDIDATES`, or
  ``all`` of its 75 languages). Values are ISO 639-1 codes (``en``, ``bn``, ``de``, ``it``, ``la``, …). A text is
  ``mixed`` when no language dominates: the top language must have at least ``language_threshold`` of lingua's
  confidence over the whole text *and* (texts of at least 8 words) of the words when lingua splits the text into
  single-language runs (a song half in English, half in Bangla gets a confident "bn" from the first and a 50 %
  share from the second).
- ``script``: the share of each writing system among the letters (``Latin``, ``Bengali``, ``other``; ``mixed``
  when none has ``language_threshold`` of them). It tells English from Bangla, not English from German.
- ``none``: leave ``language`` as the dataset gave it.

``language_confidence`` is how sure the detector was: for lingua the smaller of the two shares above, for the
script heuristic the dominant script's share of letters (empty for values from the manifest). ``language_source``
records where each value came from: ``manifest``, ``lingua``, ``script`` or ``none`` (nothing to go by: no lyrics,
no letters). A language filled from the lyrics is a label derived from the lyrics themselves: clustering lyrics
features against it is circular, which runs record (:func:`lyrics_derived`).
"""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd

from musiclust.columns import LANGUAGE, LANGUAGE_CONFIDENCE, LANGUAGE_SOURCE
from musiclust.data.lyrics import BENGALI_BLOCK, clean_lyrics
from musiclust.errors import ConfigError

log = logging.getLogger(__name__)

LATIN, BENGALI, OTHER, MIXED = "Latin", "Bengali", "other", "mixed"
LINGUA, SCRIPT, NONE, MANIFEST = "lingua", "script", "none", "manifest"
DETECTORS = (LINGUA, SCRIPT, NONE)
#: the languages lingua chooses among by default: English, Bengali, German, Italian, French, Spanish, Latin,
#: Portuguese, Dutch, Hindi (fewer candidates: fewer confusions on short lyrics, less memory)
DEFAULT_CANDIDATES = ("en", "bn", "de", "it", "fr", "es", "la", "pt", "nl", "hi")
ALL = "all"
#: lyrics longer than this many characters are judged by their beginning (lingua's time grows with the length)
MAX_CHARS = 4000
#: fewer words than this are too few to split into languages: judged by lingua's confidence alone
MIN_WORDS_TO_SPLIT = 8


# -- the script heuristic ------------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def script_of(char: str) -> str | None:
    """``Latin``, ``Bengali`` or ``other`` for letters (and Bengali signs); None for everything else."""
    category = unicodedata.category(char)
    if BENGALI_BLOCK[0] <= ord(char) <= BENGALI_BLOCK[1]:
        return BENGALI if category[0] in "LM" else None  # vowel signs and virama are marks (Mc/Mn)
    if category[0] != "L":
        return None
    return LATIN if unicodedata.name(char, "").startswith("LATIN") else OTHER


def script_shares(text: str) -> dict[str, float]:
    """Share of each script among the letters of ``text`` (empty when it has no letters)."""
    counts = Counter(script for script in map(script_of, text) if script is not None)
    total = sum(counts.values())
    return {script: n / total for script, n in counts.items()} if total else {}


def _check_threshold(threshold: float) -> None:
    if not 0.5 <= threshold <= 1.0:
        raise ValueError(f"language_threshold={threshold}: use a share between 0.5 and 1.0")


def script_with_share(text: object, threshold: float = 0.6) -> tuple[str | None, float]:
    """(dominant script or ``mixed``, its share of letters); (None, nan) without letters."""
    _check_threshold(threshold)
    shares = script_shares(clean_lyrics(text))
    if not shares:
        return None, float("nan")
    script, share = max(shares.items(), key=lambda item: (item[1], item[0]))
    return (script if share >= threshold else MIXED), share


def detect_script(text: object, threshold: float = 0.6) -> str | None:
    """The dominant script of ``text`` if its share of letters is ≥ ``threshold``, ``mixed`` if none is,
    None without letters."""
    return script_with_share(text, threshold)[0]


# -- lingua --------------------------------------------------------------------------------------------------
def candidate_codes(candidates: str | Sequence[str] | None,
                    key: str = "dataset.language_candidates") -> tuple[str, ...]:
    """The ISO 639-1 codes to choose among (``all``: every language lingua knows), checked against lingua's list;
    ``key`` names the setting in the message."""
    from lingua import Language

    known = {language.iso_code_639_1.name.lower() for language in Language.all()}
    if candidates is None:
        return DEFAULT_CANDIDATES
    if isinstance(candidates, str):
        if candidates.strip().lower() == ALL:
            return tuple(sorted(known))
        candidates = [candidates]
    codes = tuple(dict.fromkeys(str(code).strip().lower() for code in candidates))
    unknown = [code for code in codes if code not in known]
    if unknown or len(codes) < 2:
        problem = f"{', '.join(unknown)} not among lingua's languages" if unknown else "fewer than two languages"
        raise ConfigError(
            f"{key}={list(codes)}: {problem}. Give two or more ISO 639-1 codes of lingua's "
            f"languages (e.g. [en, bn, de, it, la]; known: {', '.join(sorted(known))}) or all."
        )
    return codes


@lru_cache(maxsize=4)
def lingua_detector(codes: tuple[str, ...]):
    """A lingua detector for these languages, built once per process; it loads each model when first needed."""
    from lingua import IsoCode639_1, Language, LanguageDetectorBuilder

    languages = [Language.from_iso_code_639_1(IsoCode639_1.from_str(code)) for code in codes]
    return LanguageDetectorBuilder.from_languages(*languages).build()


def detect_languages(texts: Sequence[object], threshold: float = 0.6,
                     candidates: str | Sequence[str] | None = None) -> list[tuple[str | None, float]]:
    """(ISO 639-1 code or ``mixed``, confidence) of each text with lingua; (None, nan) for texts with no letters.

    The top language of lingua's confidence over the whole text names it when both that confidence and its share
    of words, once lingua splits the text into single-language runs, reach ``threshold``; else it is ``mixed``.
    The confidence reported is the smaller of the two.
    """
    _check_threshold(threshold)
    detector = lingua_detector(candidate_codes(candidates))
    cleaned = [clean_lyrics(text)[:MAX_CHARS] for text in texts]
    has_letters = [any(unicodedata.category(ch)[0] == "L" for ch in text) for text in cleaned]
    todo = [text for text, letters in zip(cleaned, has_letters, strict=True) if letters]
    confidences = detector.compute_language_confidence_values_in_parallel(todo) if todo else []
    runs = detector.detect_multiple_languages_in_parallel_of(todo) if todo else []
    found = iter(zip(confidences, runs, strict=True))
    results: list[tuple[str | None, float]] = []
    for letters in has_letters:
        if not letters:
            results.append((None, float("nan")))
            continue
        values, segments = next(found)
        if not values or values[0].value <= 0.0:
            results.append((None, float("nan")))
            continue
        top, confidence = values[0].language, float(values[0].value)
        words = Counter()
        for segment in segments:
            words[segment.language] += segment.word_count
        total = sum(words.values())
        share = words[top] / total if total >= MIN_WORDS_TO_SPLIT else confidence
        sure = min(confidence, share)
        code = top.iso_code_639_1.name.lower()
        results.append((code if sure >= threshold else MIXED, round(sure, 4)))
    return results


# -- filling the column --------------------------------------------------------------------------------------
def check_detector(detector: str) -> str:
    if detector not in DETECTORS:
        raise ConfigError(f"dataset.language_detector={detector!r}: use lingua (an offline language identifier, "
                          "ISO 639-1 codes), script (the writing system: Latin / Bengali / other) or none.")
    return detector


def fill_language(frame: pd.DataFrame, text_column: str, threshold: float = 0.6, detector: str = LINGUA,
                  candidates: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Fill missing ``language`` values from ``text_column`` with ``detector`` (lingua or script); record where
    each value came from (``language_source``) and how sure the detector was (``language_confidence``)."""
    check_detector(detector)
    frame = frame.copy()
    if LANGUAGE in frame.columns:
        given = (frame[LANGUAGE].notna() & (frame[LANGUAGE].astype(str).str.strip() != "")).to_numpy(bool)
    else:
        given = np.zeros(len(frame), dtype=bool)
        frame[LANGUAGE] = None
    if detector == NONE:
        frame[LANGUAGE_SOURCE] = np.where(given, MANIFEST, NONE)
        return frame
    missing = np.flatnonzero(~given)
    texts = frame[text_column].to_numpy(dtype=object)[missing]
    if detector == LINGUA:
        detected = detect_languages(list(texts), threshold, candidates)
    else:
        detected = [script_with_share(text, threshold) for text in texts]
    values = frame[LANGUAGE].astype(object).to_numpy().copy()
    confidence = np.full(len(frame), np.nan)
    source = np.where(given, MANIFEST, NONE).astype(object)
    for row, (value, sure) in zip(missing, detected, strict=True):
        values[row] = value
        if value is not None:
            confidence[row], source[row] = sure, detector
    frame[LANGUAGE], frame[LANGUAGE_CONFIDENCE], frame[LANGUAGE_SOURCE] = values, confidence, source
    if len(missing):
        found = source == detector
        counts = Counter(values[found])
        log.info(
            "Language: %d songs from the manifest, %d detected from the lyrics by %s (%s), %d undetermined "
            "(no lyrics, or no letters in them); see columns %s, %s",
            int(given.sum()), int(found.sum()), detector,
            ", ".join(f"{v} {n}" for v, n in sorted(counts.items())) or "none", int((~given & ~found).sum()),
            LANGUAGE_SOURCE, LANGUAGE_CONFIDENCE,
        )
    return frame


def lyrics_derived(manifest: pd.DataFrame, columns: Sequence[str | None]) -> str:
    """The detectors that filled ``language`` from the lyrics, when one of ``columns`` (a run's ``label_col``,
    ``cond_col``) is ``language`` (e.g. ``"lingua"``); ``""`` when every value used came from the manifest."""
    if LANGUAGE not in columns or LANGUAGE_SOURCE not in manifest.columns:
        return ""
    sources = set(manifest[LANGUAGE_SOURCE].dropna().astype(str)) & {LINGUA, SCRIPT}
    return "+".join(sorted(sources))
