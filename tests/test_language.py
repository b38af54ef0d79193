"""Language identification of lyrics: lingua's ISO 639-1 codes, "mixed", the script heuristic as an option, and
runs that record when their language labels came from the lyrics themselves."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from musiclust.compare import compare
from musiclust.config import validate
from musiclust.data.language import candidate_codes, detect_languages, detect_script, fill_language
from musiclust.data.manifest import ManifestDataset
from musiclust.errors import ConfigError
from musiclust.layout import write_marker
from musiclust.pipeline import run_experiment
from tests.conftest import compose_config

LYRICS = {
    "en": "I walk along the river in the rain\nand every night I dream of you again\n"
          "hold me close until the morning light",
    "bn": "আমি তোমাকে ভালোবাসি সারা জীবন ধরে এই পথে\nরাতের আকাশে তারা জ্বলে আর চাঁদ হাসে নীরবে\n"
          "নদীর ধারে একা বসে থাকি তোমার কথা ভেবে",
    "de": "Ich gehe durch die Stadt bei Nacht\nund denke immer nur an dich\n"
          "der Regen fällt auf meine Hände",
    "it": "Cammino lungo il fiume sotto la pioggia\ne ogni notte ti sogno ancora\n"
          "resta con me fino al mattino",
    "la": "Gaudeamus igitur iuvenes dum sumus\npost iucundam iuventutem\nnos habebit humus",
}


def test_lingua_names_short_lyrics_by_iso_code():
    detected = detect_languages(list(LYRICS.values()))
    assert [code for code, _ in detected] == list(LYRICS)
    assert all(0.6 <= confidence <= 1.0 for _, confidence in detected)


def test_the_script_heuristic_cannot_tell_latin_script_languages_apart():
    # why lingua is the default: English, German, Italian and Latin are all one script
    assert {detect_script(LYRICS[code]) for code in ("en", "de", "it", "la")} == {"Latin"}
    assert detect_script(LYRICS["bn"]) == "Bengali"


def alternating(first: str, second: str) -> str:
    """Lines of two languages in turn, about as many words of each."""
    return "\n".join(f"{a}\n{b}" for a, b in zip(LYRICS[first].splitlines(), LYRICS[second].splitlines(),
                                                  strict=True))


@pytest.mark.parametrize("first, second", [("en", "bn"), ("en", "de"), ("it", "la")])
def test_lyrics_half_in_one_language_half_in_another_are_mixed(first, second):
    (code, confidence), = detect_languages([alternating(first, second)])
    assert code == "mixed" and confidence < 0.6
    (code, _), = detect_languages([f"{LYRICS[first]}\n{LYRICS[first]}\n{LYRICS[second].splitlines()[0]}"])
    assert code == first  # a line in another language does not make a song mixed


@pytest.mark.parametrize("text", ["", None, float("nan"), "12345 !!! ...", "[Chorus]\n[00:12.00]"])
def test_texts_without_letters_stay_undetermined(text):
    (code, confidence), = detect_languages([text])
    assert code is None and math.isnan(confidence)


def test_fill_language_records_source_and_confidence():
    frame = pd.DataFrame({"lyrics": [LYRICS["de"], LYRICS["bn"], "", LYRICS["it"]],
                          "language": [None, None, None, "it"]})
    out = fill_language(frame, "lyrics")
    assert out["language"].tolist()[:2] == ["de", "bn"] and pd.isna(out["language"][2])
    assert out["language"][3] == "it"
    assert out["language_source"].tolist() == ["lingua", "lingua", "none", "manifest"]
    assert (out["language_confidence"][:2] >= 0.6).all() and out["language_confidence"][2:].isna().all()


def test_candidates_are_checked_and_restrict_the_choice():
    assert len(candidate_codes("all")) == 75 and {"bn", "la", "en"} <= set(candidate_codes("all"))
    with pytest.raises(ConfigError, match=r"dataset.language_candidates=\['en', 'klingon'\]: klingon not among"):
        candidate_codes(["en", "klingon"])
    with pytest.raises(ConfigError, match="fewer than two languages"):
        candidate_codes(["en"])
    # with only English and Italian to choose from, German lyrics come out as one of them, never as "de"
    (code, _), = detect_languages([LYRICS["de"]], candidates=["en", "it"])
    assert code in ("en", "it", "mixed")


def test_language_detector_is_a_validated_choice(tmp_path):
    csv = tmp_path / "songs.csv"
    pd.DataFrame({"id": ["a", "b"], "lyrics": [LYRICS["en"], LYRICS["la"]]}).to_csv(csv, index=False)
    with pytest.raises(ConfigError, match="dataset.language_detector='fasttext': use lingua .* script .* none"):
        ManifestDataset(str(csv), audio_col=None, language_detector="fasttext")
    with pytest.raises(ConfigError, match="dataset.language_candidates=.*xx not among lingua's languages"):
        ManifestDataset(str(csv), audio_col=None, language_candidates=["en", "xx"])
    assert ManifestDataset(str(csv), audio_col=None).load()["language"].tolist() == ["en", "la"]
    assert ManifestDataset(str(csv), audio_col=None, language_detector="script").load()["language"].tolist() == [
        "Latin", "Latin"]
    cfg = compose_config(["dataset=manifest", f"dataset.path={csv}", "dataset.language_detector=langid"],
                         tmp_path / "run")
    with pytest.raises(ConfigError, match="dataset.language_detector='langid': must be lingua"):
        validate(cfg)


def _lyrics_run(csv, run_dir, *overrides: str):
    cfg = compose_config([
        "dataset=manifest", f"dataset.path={csv}", "dataset.audio_col=null", "dataset.label_columns=[language]",
        "feature=lyrics_tfidf", "feature.min_df=1", "model=pca", "k=2", "label_col=language",
        "trainer.enable_progress_bar=false", "~outputs.projections", "~callbacks.model_checkpoint",
        f"paths.cache_dir={run_dir.parent / 'cache'}", *overrides], run_dir)
    result = run_experiment(cfg)
    write_marker(run_dir, fingerprint=run_dir.name)  # finished, as musiclust.jobs marks a run
    return result


def test_runs_scored_against_a_language_from_the_lyrics_say_so(tmp_path):
    lines = {code: text.splitlines() for code, text in LYRICS.items() if code in ("en", "bn")}
    rows = [{"id": f"{code}{i}", "lyrics": "\n".join(lines[code][i:] + lines[code][:i])}
            for code in lines for i in range(3)]
    detected, given = tmp_path / "detected.csv", tmp_path / "given.csv"
    pd.DataFrame(rows).to_csv(detected, index=False)
    pd.DataFrame([{**row, "language": row["id"][:2]} for row in rows]).to_csv(given, index=False)
    circular = _lyrics_run(detected, tmp_path / "runs" / "detected")
    assert circular.settings["label_from_lyrics"] == "lingua"
    assert circular.metrics["nmi"] == pytest.approx(1.0)  # of course: the label is read off the same lyrics
    honest = _lyrics_run(given, tmp_path / "runs" / "given")
    assert honest.settings["label_from_lyrics"] == ""
    assert _lyrics_run(detected, tmp_path / "runs" / "genre", "label_col=null").settings["label_from_lyrics"] == ""
    written = pd.read_csv(tmp_path / "runs" / "detected" / "clustering_metrics.csv")
    assert written["label_from_lyrics"].tolist() == ["lingua"]
    # compare shows it next to the scores, even where it is the same for every run compared
    assert "label_from_lyrics" in compare([tmp_path / "runs" / "detected"]).table.columns
    grouped = compare([tmp_path / "runs"], group_by=["dataset"])
    assert "label_from_lyrics" in grouped.table.columns
