"""JamendoLyrics: 80 Creative-Commons songs in English, German, French and Spanish with lyrics.

Layout (as on the Hugging Face Hub, ``jamendolyrics/jamendolyrics``)::

    JamendoLyrics.csv          Artist, Title, Genre, Language, Filepath (the mp3 file name), ...
    lyrics/{stem}.txt          lyrics of each song (stem = Filepath without .mp3)
    subsets/{en,de,fr,es}/mp3/{Filepath}

The older GitHub layout (``mp3/{Filepath}`` at the top) reads too. ``download_jamendo`` fetches a
language subset with ``huggingface_hub``; the loader itself never touches the network.
"""

from __future__ import annotations

import glob
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from musiclust.columns import AUDIO, ID, LYRICS
from musiclust.data.lyrics import read_lyrics_file
from musiclust.data.manifest import Dataset
from musiclust.errors import DataError

log = logging.getLogger(__name__)

REPO_ID = "jamendolyrics/jamendolyrics"
METADATA_FILE = "JamendoLyrics.csv"
REQUIRED_COLUMNS = ("Filepath", "Language")
LANGUAGE_CODES = {"english": "en", "german": "de", "french": "fr", "spanish": "es"}


def snake_case(name: str) -> str:
    """``LyricOverlap`` → ``lyric_overlap`` (manifest columns are lower case, like ``genre``)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", str(name).strip()).lower().replace(" ", "_")


def read_metadata(csv_path: Path) -> pd.DataFrame:
    """The metadata CSV, checked for the columns the loader needs."""
    if not csv_path.is_file():
        raise DataError(
            f"JamendoLyrics: no metadata file '{csv_path}'. Download the dataset with "
            f"`musiclust-data jamendo --out {csv_path.parent}` or point dataset.path at your copy."
        )
    try:
        frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise DataError(f"{csv_path}: cannot be read as CSV ({type(err).__name__}). Download it again.") from err
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(
            f"{csv_path}: missing column(s) {missing} (columns: {', '.join(frame.columns)}); "
            "this is not the JamendoLyrics metadata. Download it again with `musiclust-data jamendo`."
        )
    return frame


def select_languages(frame: pd.DataFrame, language: str | list[str] | None) -> pd.DataFrame:
    """Rows of the requested language(s): names (``English``) or codes (``en``), any case; ``all`` keeps all."""
    wanted = [language] if isinstance(language, str) else list(language or ["all"])
    if any(str(w).lower() == "all" for w in wanted):
        return frame
    available = sorted(frame["Language"].unique())
    by_key = {}
    for name in available:
        by_key[name.lower()] = name
        if name.lower() in LANGUAGE_CODES:
            by_key[LANGUAGE_CODES[name.lower()]] = name
    unknown = [w for w in wanted if str(w).lower() not in by_key]
    if unknown:
        raise DataError(
            f"JamendoLyrics has no language {unknown} (languages: {', '.join(available)}, or all); "
            "set dataset.language (or --language) to one of those."
        )
    names = {by_key[str(w).lower()] for w in wanted}
    return frame[frame["Language"].isin(names)]


class JamendoDataset(Dataset):
    """The JamendoLyrics layout under ``path``; ``language``: a name, a code, a list, or ``all``.

    With ``all``, languages of which nothing was downloaded (no audio, no lyrics) are left out with a
    log line, so a ``--language English`` download loads as English only.
    """

    label_columns = ["genre", "language"]

    def __init__(
        self, path: str = "data/jamendo", language: str | list[str] = "all", metadata_file: str = METADATA_FILE,
        label_columns: list[str] | None = None, **options,
    ) -> None:
        super().__init__(label_columns=list(label_columns if label_columns is not None else self.label_columns),
                         **options)
        self.path = Path(path).expanduser()
        self.language = language
        self.metadata_file = metadata_file

    def audio_index(self) -> dict[str, Path]:
        """mp3 file name → path; ``subsets/*/mp3`` first (top-level ``mp3/`` may hold Git symlink stubs)."""
        index: dict[str, Path] = {}
        for pattern in ("subsets/*/mp3/*", "mp3/*"):
            for file in sorted(self.path.glob(pattern)):
                if file.is_file() and file.stat().st_size > 1024:  # a 56-byte symlink stub is not audio
                    index.setdefault(file.name, file)
        return index

    def read(self) -> pd.DataFrame:
        if not self.path.is_dir():
            raise DataError(
                f"dataset.path: no JamendoLyrics folder '{self.path}'. Download it with "
                f"`musiclust-data jamendo --language English --out {self.path}`."
            )
        frame = select_languages(read_metadata(self.path / self.metadata_file), self.language)
        audio = self.audio_index()
        rows = []
        for record in frame.to_dict("records"):
            filename = record["Filepath"].strip()
            stem = Path(filename).stem
            lyrics_file = self.path / "lyrics" / f"{stem}.txt"
            text, problem = read_lyrics_file(lyrics_file) if lyrics_file.is_file() else (None, "")
            if problem:
                self.skip(stem, problem)
                continue
            path = audio.get(filename)
            code = LANGUAGE_CODES.get(record["Language"].lower(), record["Language"].lower())
            expected = self.path / "subsets" / code / "mp3" / filename  # reported as missing if absent
            row = {ID: stem, AUDIO: str((path or expected).resolve()), LYRICS: text,
                   "_present": path is not None or text is not None}
            row.update({snake_case(k): v for k, v in record.items()})
            rows.append(row)
        manifest = pd.DataFrame(rows)
        if manifest.empty:
            return manifest
        if isinstance(self.language, str) and self.language.lower() == "all":
            present = manifest.groupby("language")["_present"].any()
            absent = sorted(present.index[~present])
            if absent:
                log.info("JamendoLyrics: nothing downloaded for %s; loading %s (download more with "
                         "`musiclust-data jamendo --language all`)", ", ".join(absent),
                         ", ".join(sorted(present.index[present])))
                manifest = manifest[~manifest["language"].isin(absent)]
        return manifest.drop(columns="_present").reset_index(drop=True)


class DownloadError(DataError):
    """The dataset could not be fetched (no access, not logged in, offline)."""


def download_jamendo(
    out: str | Path, language: str = "all", repo_id: str = REPO_ID, revision: str | None = None,
    token: str | None = None,
) -> tuple[Path, int]:
    """Fetch the metadata, the lyrics and the mp3 subset(s) of ``language`` into ``out``.

    Returns the folder and the number of songs whose audio is there. Access problems become a
    :class:`DownloadError` that says how to log in; being offline says so too.
    """
    import huggingface_hub

    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    common = {"repo_type": "dataset", "revision": revision, "token": token, "local_dir": str(out)}
    with hub_errors(repo_id, out):
        csv_path = Path(huggingface_hub.hf_hub_download(repo_id, METADATA_FILE, **common))
        frame = select_languages(read_metadata(csv_path), language)
        codes = sorted({LANGUAGE_CODES.get(name.lower(), name.lower()) for name in frame["Language"]})
        stems = [Path(name).stem for name in frame["Filepath"]]
        patterns = [METADATA_FILE, *(glob.escape(f"lyrics/{stem}.txt") for stem in stems),
                    *(f"subsets/{code}/mp3/*.mp3" for code in codes)]
        huggingface_hub.snapshot_download(repo_id, allow_patterns=patterns, **common)
    loaded = JamendoDataset(str(out), language=language, language_detector="none")
    audio = loaded.audio_index()
    have = int(sum(name.strip() in audio for name in frame["Filepath"]))
    if have == 0:
        raise DownloadError(
            f"no audio arrived in {out}/subsets/{{{','.join(codes)}}}/mp3 for {repo_id} (offline, or the "
            "repository layout changed?). Check your connection and run the command again."
        )
    if have < len(frame):
        log.warning("JamendoLyrics: %d of %d songs have audio in %s", have, len(frame), out)
    return out, have


@contextmanager
def hub_errors(repo_id: str, out: Path) -> Iterator[None]:
    """Turn huggingface_hub's exceptions into one :class:`DownloadError` that says what to do."""
    from huggingface_hub import errors

    login = ("log in with `hf auth login` (older versions: `huggingface-cli login`) or set the HF_TOKEN "
             "environment variable, then run the command again")
    try:
        yield
    except DataError:
        raise
    except errors.GatedRepoError as err:
        raise DownloadError(
            f"{repo_id} is a gated dataset: accept its terms on its Hub page with your account, then {login}."
        ) from err
    except errors.HfHubHTTPError as err:
        status = getattr(getattr(err, "response", None), "status_code", None)
        if isinstance(err, errors.RepositoryNotFoundError) or status in (401, 403):
            raise DownloadError(
                f"cannot access {repo_id} (HTTP {status or 'error'}: not found or not authorised). Check the "
                f"name (--repo) and {login}."
            ) from err
        raise DownloadError(f"download of {repo_id} failed: {str(err).splitlines()[0]}") from err
    except Exception as err:
        offline = (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError, ConnectionError, TimeoutError)
        if isinstance(err, offline) or _is_network_error(err):
            raise DownloadError(
                f"cannot reach the Hugging Face Hub to download {repo_id} (offline, or HF_HUB_OFFLINE=1). "
                f"Connect to the internet and run the command again, or copy a JamendoLyrics folder to {out}."
            ) from err
        raise


def _is_network_error(err: BaseException) -> bool:
    """httpx-style transport errors (connection refused, DNS, timeouts) without importing httpx here."""
    return any(cls.__name__ in ("TransportError", "NetworkError", "TimeoutException") for cls in type(err).__mro__)
