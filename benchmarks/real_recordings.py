"""Judge feature=mir and model=contrastive on real, produced, full-length recordings, and lyrics features on real text
by language: NMI over seeds 0, 1, 2 against the baselines (mfcc + PCA for audio; lyrics_tfidf for language).

Audio: the game soundtracks Debian packages ship as 44.1 kHz stereo Ogg Vorbis, labelled by their source (each game
has its own composers and production): ``apt-get install wesnoth-1.16-music hedgewars-data hyperrogue-music``.
Tracks shorter than a minute (jingles) are left out; the rest are used whole. Text: Debian's fortune cookies
(``fortunes``, ``fortunes-de``, ``fortunes-it``, ``fortunes-es``, ``fortunes-br``: English, German, Italian,
Spanish, Portuguese) and, for Bengali, the Bengali message catalogues (``/usr/share/locale/bn*/LC_MESSAGES/*.mo``),
cut into lyrics-sized documents of a few lines, labelled by the language of their source.

    python -m benchmarks.real_recordings build --out /work/data/real        # manifests (no audio is copied)
    python -m benchmarks.real_recordings run --out /work/data/real          # the sweeps, then the comparison
    python -m benchmarks.real_recordings run --only embed_vs_source --lyrics-model DIR   # lyrics_embed with a local
                                                                            # sentence-transformers model

Nothing here is part of the test suite: it needs those packages and about an hour of CPU.
"""

from __future__ import annotations

import argparse
import glob
import os
import struct
import subprocess
import sys
from pathlib import Path

import pandas as pd

SOURCES = {  # label → glob of its tracks
    "wesnoth": "/usr/share/games/wesnoth/*/data/core/music/*.ogg",
    "hedgewars": "/usr/share/games/hedgewars/Data/Music/*.ogg",
    "hyperrogue": "/usr/share/hyperrogue/music/*.ogg",
}
TRACKS_PER_SOURCE = 15
MIN_SECONDS = 60.0

FORTUNES = {  # language → fortune files (one fortune per "%" line)
    "en": ["/usr/share/games/fortunes/songs-poems", "/usr/share/games/fortunes/love",
           "/usr/share/games/fortunes/fortunes"],
    "de": sorted(p for p in glob.glob("/usr/share/games/fortunes/de/*") if not p.endswith((".dat", ".u8"))),
    "it": ["/usr/share/games/fortunes/italia", "/usr/share/games/fortunes/definizioni",
           "/usr/share/games/fortunes/formiche", "/usr/share/games/fortunes/storia"],
    "es": sorted(glob.glob("/usr/share/games/fortunes/es/*.fortunes")),
    "pt": ["/usr/share/games/fortunes/brasil"],
}
BENGALI_CATALOGUES = "/usr/share/locale/bn*/LC_MESSAGES/*.mo"
DOCS_PER_LANGUAGE = 30
LINES_PER_DOC = 8
SEEDS = "0,1,2"

#: option → musiclust overrides (every option also gets the dataset, label and sweep settings below)
AUDIO_OPTIONS = {
    "mfcc+pca": ["feature=mfcc", "model=pca"],
    "mfcc+raw": ["feature=mfcc", "model=raw"],
    "mir+pca": ["feature=mir", "model=pca"],
    "mir+raw": ["feature=mir", "model=raw"],
    "mir+contrastive": ["feature=mir", "model=contrastive", "backbone=mlp", "trainer.max_epochs=300",
                        "callbacks.early_stopping.patience=50"],
    "logmelspec+contrastive": ["feature=logmelspec", "feature.max_windows=16", "model=contrastive",
                               "backbone=conv2d", "trainer.max_epochs=300", "callbacks.early_stopping.patience=50"],
}
LYRICS_OPTIONS = {  # label_col source_language: the language of the text's source, independent of any detector
    "tfidf_vs_source": ["feature=lyrics_tfidf", "model=pca", "label_col=source_language", "k=6"],
    "tfidf_vs_lingua": ["feature=lyrics_tfidf", "model=pca", "label_col=language", "k=auto"],
    "tfidf_vs_script": ["feature=lyrics_tfidf", "model=pca", "label_col=language", "k=auto",
                        "dataset.language_detector=script"],
}


def audio_manifest() -> pd.DataFrame:
    import soundfile as sf

    rows = []
    for source, pattern in SOURCES.items():
        tracks = [path for path in sorted(glob.glob(pattern)) if sf.info(path).duration >= MIN_SECONDS]
        if len(tracks) < TRACKS_PER_SOURCE:
            raise SystemExit(f"{source}: {len(tracks)} tracks of at least {MIN_SECONDS:.0f} s under {pattern}; "
                             "install the Debian package (see this module's docstring)")
        for path in tracks[:TRACKS_PER_SOURCE]:
            info = sf.info(path)
            rows.append({"id": f"{source}/{Path(path).stem}", "audio_path": path, "source": source,
                         "seconds": round(info.duration, 1), "samplerate": info.samplerate,
                         "channels": info.channels})
    return pd.DataFrame(rows)


def fortunes(path: str) -> list[str]:
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    return [block.strip() for block in text.split("\n%\n") if block.strip()]


def mo_messages(path: str) -> list[str]:
    """The translated strings of a GNU gettext .mo catalogue (its documented binary layout)."""
    data = Path(path).read_bytes()
    order = "<" if struct.unpack("<I", data[:4])[0] == 0x950412DE else ">"
    count, _, translations = struct.unpack(f"{order}3I", data[8:20])
    messages = []
    for i in range(1, count):  # entry 0 is the catalogue's header
        length, offset = struct.unpack(f"{order}2I", data[translations + 8 * i: translations + 8 * i + 8])
        message = data[offset:offset + length].decode("utf-8", errors="replace").split("\x00")[0].strip()
        if len(message.split()) >= 3 and "%" not in message and "{" not in message:
            messages.append(" ".join(message.split()))
    return messages


def documents(lines: list[str], n: int, per_doc: int) -> list[str]:
    """``n`` documents of ``per_doc`` consecutive lines, spread evenly over ``lines``."""
    step = max(per_doc, len(lines) // n)
    docs = ["\n".join(lines[start:start + per_doc]) for start in range(0, len(lines) - per_doc + 1, step)]
    return docs[:n]


def lyrics_manifest() -> pd.DataFrame:
    rows = []
    for language, paths in FORTUNES.items():
        lines = [line.strip() for path in paths if os.path.isfile(path) for fortune in fortunes(path)
                 for line in fortune.splitlines() if len(line.split()) >= 3 and not line.strip().startswith("--")]
        rows += [{"id": f"{language}_{i:03d}", "lyrics": doc, "source_language": language}
                 for i, doc in enumerate(documents(lines, DOCS_PER_LANGUAGE, LINES_PER_DOC))]
    bengali = [message for path in sorted(glob.glob(BENGALI_CATALOGUES)) for message in mo_messages(path)
               if sum("\u0980" <= ch <= "\u09ff" for ch in message) > len(message) / 2]
    rows += [{"id": f"bn_{i:03d}", "lyrics": doc, "source_language": "bn"}
             for i, doc in enumerate(documents(bengali, DOCS_PER_LANGUAGE, LINES_PER_DOC))]
    frame = pd.DataFrame(rows)
    short = frame.groupby("source_language").size()
    if (short < DOCS_PER_LANGUAGE).any():
        raise SystemExit(f"too few documents: {short.to_dict()}; install the fortunes packages")
    return frame


def build(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    audio = audio_manifest()
    audio.to_csv(out / "audio.csv", index=False)
    print(f"{out / 'audio.csv'}: {len(audio)} tracks, {audio['seconds'].sum() / 60:.0f} min "
          f"({audio.groupby('source')['seconds'].agg(['count', 'median']).to_dict('index')})")
    lyrics = lyrics_manifest()
    lyrics.to_csv(out / "lyrics.csv", index=False)
    print(f"{out / 'lyrics.csv'}: {len(lyrics)} documents, {lyrics['source_language'].value_counts().to_dict()}")


def musiclust(args: list[str], cwd: Path) -> None:
    command = [str(Path(sys.executable).with_name("musiclust")), "-m", *args]
    print("$", " ".join(command), flush=True)
    done = subprocess.run(command, cwd=cwd, text=True, capture_output=True)
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-3000:], sep="\n")


def run(out: Path, only: list[str] | None, n_jobs: int, lyrics_model: Path | None = None) -> None:
    runs = out / "runs"
    common = ["hydra/job_logging=disabled", "trainer.enable_progress_bar=false", f"paths.cache_dir={out / 'cache'}",
              "~outputs.projections", f"seed={SEEDS}", "resume=true"]
    audio = ["dataset=manifest", f"dataset.path={out / 'audio.csv'}", "dataset.lyrics_col=null",
             "dataset.label_columns=[source]", "label_col=source", "k=3", f"feature.n_jobs={n_jobs}"]
    lyrics = ["dataset=manifest", f"dataset.path={out / 'lyrics.csv'}", "dataset.audio_col=null",
              "dataset.label_columns=[source_language,language]", "plot_columns=[source_language]"]
    lyrics_options = dict(LYRICS_OPTIONS)
    if lyrics_model is not None:  # a model directory on this machine (runs never download)
        lyrics_options["embed_vs_source"] = ["feature=lyrics_embed", f"feature.model={lyrics_model}", "model=pca",
                                             "label_col=source_language", "k=6"]
    for name, overrides in {**AUDIO_OPTIONS, **lyrics_options}.items():
        if only and name not in only:
            continue
        base = audio if name in AUDIO_OPTIONS else lyrics
        musiclust([*base, *overrides, *common, f"hydra.sweep.dir={runs / name}"], cwd=out)
    for group, names in (("audio", AUDIO_OPTIONS), ("lyrics", lyrics_options)):
        dirs = [str(runs / name) for name in names if (runs / name).is_dir()]
        if not dirs:
            continue
        keys = ["feature", "model"] if group == "audio" else ["feature", "label_col", "dataset"]
        command = [str(Path(sys.executable).with_name("musiclust-compare")), *dirs, "--group-by", *keys,
                   "--metrics", "nmi", "ami", "ari", "--out", str(out / f"compare_{group}")]
        print("$", " ".join(command), flush=True)
        subprocess.run(command, cwd=out)


def lingua_accuracy(out: Path) -> None:
    """How often lingua and the script heuristic name the language of the text's source."""
    from musiclust.data.language import detect_languages, detect_script

    frame = pd.read_csv(out / "lyrics.csv")
    frame["lingua"] = [code for code, _ in detect_languages(frame["lyrics"].tolist())]
    frame["script"] = [detect_script(text) for text in frame["lyrics"]]
    table = frame.groupby("source_language").agg(documents=("id", "size"))
    table["lingua_correct"] = [float((frame.loc[frame.source_language == lang, "lingua"] == lang).mean())
                               for lang in table.index]
    table["lingua_mixed"] = [float((frame.loc[frame.source_language == lang, "lingua"] == "mixed").mean())
                             for lang in table.index]
    table["script"] = [", ".join(sorted(set(frame.loc[frame.source_language == lang, "script"].astype(str))))
                       for lang in table.index]
    print(table.to_string())
    print(f"lingua names the source language of {(frame['lingua'] == frame['source_language']).mean():.1%} "
          f"of {len(frame)} documents")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.real_recordings", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=["build", "run", "lingua"])
    parser.add_argument("--out", type=Path, default=Path("/work/data/real"))
    parser.add_argument("--only", nargs="*", default=None, help="options to run (default: all)")
    parser.add_argument("--n-jobs", type=int, default=1, help="feature extraction processes (default: 1)")
    parser.add_argument("--lyrics-model", type=Path, default=None,
                        help="a local sentence-transformers model directory: adds lyrics_embed (embed_vs_source)")
    args = parser.parse_args(argv)
    if args.step == "build":
        build(args.out)
    elif args.step == "run":
        run(args.out, args.only, args.n_jobs, args.lyrics_model)
    else:
        lingua_accuracy(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
