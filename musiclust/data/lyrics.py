"""Lyrics text: reading sidecar files and cleaning (section tags, timestamps, URLs, punctuation noise).

Cleaning keeps every letter and combining mark, so Bengali text (U+0980–U+09FF, including its
vowel signs, virama and khanda ta) survives intact; it only removes annotations and symbols.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pandas as pd

from musiclust.columns import CLEAN_LYRICS, LYRICS

BENGALI_BLOCK = (0x0980, 0x09FF)

_SECTION_WORDS = (
    r"verse|chorus|pre-?chorus|post-?chorus|bridge|intro|outro|hook|refrain|interlude|instrumental|solo|"
    r"break|breakdown|drop|coda|spoken|repeat|ad-?libs?"
)
# LRC timestamps [00:12.34] / word stamps <00:12.34> and LRC header tags [ar:Artist], [length: 03:25]
_TIMESTAMP = re.compile(r"[\[<]\d{1,3}:\d{2}(?:[.:]\d{1,3})?[\]>]")
_LRC_TAG = re.compile(r"^\s*\[(?:ar|ti|al|au|by|re|ve|offset|length|#)\s*:[^\]\n]*\]\s*$", re.IGNORECASE | re.MULTILINE)
# any [..] annotation: [Chorus], [Verse 2: Artist], [x2], [Instrumental break]
_BRACKETED = re.compile(r"\[[^\]\n]*\]")
# a line that only names a section: "Chorus:", "(Verse 2)", "{Hook x2}", "Repeat chorus"
_SECTION_LINE = re.compile(
    rf"^\s*[(\{{]?\s*(?:repeat\s+)?(?:{_SECTION_WORDS})(?:\s*\d+)?(?:\s*[x×]\s*\d+)?\s*[)\}}]?\s*:?\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_REPEAT_MARK = re.compile(r"(?:(?<=\s)|^)[(\[{]?[x×]\s?\d+[)\]}]?[ \t]*$", re.MULTILINE | re.IGNORECASE)
_URL = re.compile(r"(?:https?://|www\.)\S+|\S+@\S+\.[a-z]{2,}", re.IGNORECASE)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})


def _in_bengali(char: str) -> bool:
    return BENGALI_BLOCK[0] <= ord(char) <= BENGALI_BLOCK[1]


def _strip_symbols(line: str) -> str:
    """Punctuation and symbols become spaces, except apostrophes/hyphens inside words and Bengali signs."""
    out = []
    for i, char in enumerate(line):
        category = unicodedata.category(char)
        if category[0] not in "PS" or _in_bengali(char):
            out.append(char)
        elif char in "'-" and 0 < i < len(line) - 1 and line[i - 1].isalnum() and line[i + 1].isalnum():
            out.append(char)
        else:
            out.append(" ")
    return " ".join("".join(out).split())


def clean_lyrics(text: object) -> str:
    """Lyrics without section tags, timestamps, URLs and punctuation noise; Unicode NFC; one line per line."""
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return ""
    text = unicodedata.normalize("NFC", str(text)).translate(_APOSTROPHES)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _LRC_TAG.sub("", text)
    text = _TIMESTAMP.sub(" ", text)
    text = _URL.sub(" ", text)
    text = _BRACKETED.sub(" ", text)
    text = _SECTION_LINE.sub("", text)
    text = _REPEAT_MARK.sub("", text)
    lines = (_strip_symbols(line) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def add_clean_lyrics(frame: pd.DataFrame, column: str = LYRICS) -> pd.DataFrame:
    """A copy of ``frame`` with ``lyrics_clean`` computed from ``column``."""
    frame = frame.copy()
    frame[CLEAN_LYRICS] = [clean_lyrics(text) for text in frame[column]]
    return frame


def read_lyrics_file(path: str | Path) -> tuple[str | None, str]:
    """Text of a lyrics sidecar: (text, "") or (None, reason) when it is not valid UTF-8 / UTF-16.

    A byte-order mark selects UTF-8-SIG or UTF-16; anything else must be UTF-8, because guessing a
    legacy code page would silently turn the lyrics into different characters.
    """
    raw = Path(path).read_bytes()
    encoding = "utf-16" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig"
    try:
        return raw.decode(encoding), ""
    except UnicodeDecodeError as err:
        return None, (
            f"lyrics not UTF-8: {Path(path).name} has an invalid byte at position {err.start}; "
            "re-save the file as UTF-8"
        )
