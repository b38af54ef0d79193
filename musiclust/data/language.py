"""Script-based language detection: which writing system (Latin, Bengali, other) the lyrics use.

The share of each script among the letters of a text decides: a script with at least ``threshold``
of the letters names the text; below that the text is ``mixed``; a text without letters stays
undetermined. This separates e.g. English from Bangla lyrics without any model or network.
"""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter
from functools import lru_cache

import numpy as np
import pandas as pd

from musiclust.columns import LANGUAGE, LANGUAGE_SOURCE
from musiclust.data.lyrics import BENGALI_BLOCK, clean_lyrics

log = logging.getLogger(__name__)

LATIN, BENGALI, OTHER, MIXED = "Latin", "Bengali", "other", "mixed"


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


def detect_script(text: object, threshold: float = 0.6) -> str | None:
    """The dominant script of ``text`` if its share of letters is ≥ ``threshold``, ``mixed`` if none is,
    None without letters."""
    if not 0.5 <= threshold <= 1.0:
        raise ValueError(f"language_threshold={threshold}: use a share between 0.5 and 1.0")
    shares = script_shares(clean_lyrics(text))
    if not shares:
        return None
    script, share = max(shares.items(), key=lambda item: (item[1], item[0]))
    return script if share >= threshold else MIXED


def fill_language(frame: pd.DataFrame, text_column: str, threshold: float = 0.6) -> pd.DataFrame:
    """Fill missing ``language`` values from the script of ``text_column``; record where each came from.

    ``language_source`` is ``manifest`` (given), ``script`` (detected) or ``none`` (no letters to go by).
    """
    frame = frame.copy()
    if LANGUAGE in frame.columns:
        given = (frame[LANGUAGE].notna() & (frame[LANGUAGE].astype(str).str.strip() != "")).to_numpy(bool)
    else:
        given = np.zeros(len(frame), dtype=bool)
        frame[LANGUAGE] = None
    detected = [None if known else detect_script(text, threshold) for known, text in
                zip(given, frame[text_column], strict=True)]
    found = np.array([script is not None for script in detected], dtype=bool)
    frame[LANGUAGE] = np.where(given, frame[LANGUAGE].astype(object), np.array(detected, dtype=object))
    frame[LANGUAGE_SOURCE] = np.where(given, "manifest", np.where(found, "script", "none"))
    if not given.all():
        by_script = Counter(script for script in detected if script is not None)
        log.info(
            "Language: %d songs from the manifest, %d detected from the lyrics' script (%s), %d undetermined "
            "(no lyrics, or no letters in them); see column %s",
            int(given.sum()), int(found.sum()), ", ".join(f"{s} {n}" for s, n in sorted(by_script.items())) or "none",
            int((~given & ~found).sum()), LANGUAGE_SOURCE,
        )
    return frame
