"""`avseq prepare` on fake speech corpora in their distributors' layouts: one manifest per
official split, normalised transcripts, durations from the headers, a report of what changed
and what was dropped, manifests `avseq check-data` accepts; wrong layouts fail in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf

from avseq.cli.main import main
from tests.corpora import fakes


def prepare(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["prepare", *args])
    out, err = capsys.readouterr()
    return code, out, err


def manifest(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_data(capsys, *paths: Path) -> None:
    code = main(["check-data", *map(str, paths)])
    out = capsys.readouterr().out
    assert code == 0, out


def test_librispeech_splits_speakers_and_a_missing_flac(tmp_path: Path, capsys) -> None:
    root, out = fakes.librispeech(tmp_path), tmp_path / "out"
    code, printed, _ = prepare(capsys, "librispeech", str(root), "--output", str(out))
    assert code == 0 and "missing audio file: 1" in printed
    train = manifest(out / "train-clean-100.jsonl")
    assert [u["text"] for u in train] == ["hello world", "it's nineteen eighty four"]
    assert [u["duration"] for u in train] == [1.0, 1.25] and train[0]["speaker"] == "19"
    assert Path(train[0]["audio_filepath"]).is_absolute()
    assert len(manifest(out / "dev-clean.jsonl")) == 2
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["splits"]["train-clean-100"]["items"] == 2
    assert report["changed"]["case folded"]["count"] == 4
    assert report["dropped"]["missing audio file"]["examples"][0]["item"].endswith("19-198-0002")
    assert "19-198-0002\tmissing audio file" in (out / "dropped.txt").read_text()
    check_data(capsys, out / "train-clean-100.jsonl", out / "dev-clean.jsonl")


def test_commonvoice_mp3_tsv_splits_and_dropped_sentences(tmp_path: Path, capsys) -> None:
    root, out = fakes.commonvoice(tmp_path), tmp_path / "out"
    code, _, _ = prepare(capsys, "commonvoice", str(root.parent), "--output", str(out))
    assert code == 0
    train = manifest(out / "train.jsonl")
    assert [u["text"] for u in train] == [
        "hello she said",
        "it costs five dollars fifty percent off",
        "cafe au lait",
    ]
    assert all(1.1 < u["duration"] < 1.3 for u in train) and train[0]["speaker"] == "client0"
    assert manifest(out / "dev.jsonl")[0]["text"] == "the third of may nineteen ninety nine"
    assert manifest(out / "test.jsonl")[0]["text"] == "rock and roll"
    report = json.loads((out / "prepare_report.json").read_text())
    dropped = report["dropped"]["characters outside a-z, ' and space"]
    assert dropped["count"] == 1 and "漢字です" in dropped["examples"][0]["detail"]
    check_data(capsys, out / "train.jsonl", out / "dev.jsonl", out / "test.jsonl")


def test_commonvoice_other_languages_get_no_english_number_words(tmp_path: Path, capsys) -> None:
    root, out = fakes.commonvoice(tmp_path, locale="fr"), tmp_path / "out"
    code, printed, _ = prepare(capsys, "commonvoice", str(root), "--output", str(out))
    assert code == 0 and "locale fr: numbers and symbols are not spelled out" in printed
    assert not (out / "dev.jsonl").exists()  # its one sentence has digits
    assert [u["text"] for u in manifest(out / "train.jsonl")] == ["hello she said", "cafe au lait"]


def test_keep_text_keeps_transcripts_as_written(tmp_path: Path, capsys) -> None:
    root, out = fakes.commonvoice(tmp_path), tmp_path / "out"
    assert prepare(capsys, "commonvoice", str(root), "--output", str(out), "--keep-text")[0] == 0
    texts = [u["text"] for u in manifest(out / "train.jsonl")]
    assert texts == [*fakes.COMMONVOICE_SENTENCES["train"]]
    assert json.loads((out / "prepare_report.json").read_text())["changed"] == {}


def test_speechcommands_lists_make_the_splits_and_label_is_the_word(tmp_path: Path, capsys) -> None:
    root, out = fakes.speechcommands(tmp_path), tmp_path / "out"
    assert prepare(capsys, "speechcommands", str(root), "--output", str(out))[0] == 0
    splits = {s: manifest(out / f"{s}.jsonl") for s in ("training", "validation", "testing")}
    assert [len(v) for v in splits.values()] == [2, 2, 2]
    assert {u["label"] for u in splits["training"]} == {"yes", "no"}
    assert all(u["text"] == u["label"] for v in splits.values() for u in v)
    assert all("0a7c2a8d" in u["audio_filepath"] for u in splits["training"])
    assert not any("_background_noise_" in u["audio_filepath"] for v in splits.values() for u in v)
    check_data(capsys, *(out / f"{s}.jsonl" for s in splits))


def test_kaldi_segments_are_cut_into_files_with_speakers(tmp_path: Path, capsys) -> None:
    data, out = fakes.kaldi(tmp_path), tmp_path / "out"
    assert prepare(capsys, "kaldi", str(data), "--output", str(out))[0] == 0
    train = manifest(out / "train.jsonl")
    assert [u["text"] for u in train] == ["hello world", "good morning", "i have two cats"]
    assert [u["duration"] for u in train] == [1.5, 2.5, 2.5]  # "-1": to the recording's end
    assert [u["speaker"] for u in train] == ["spk1", "spk1", "spk2"]
    assert train[0]["audio_filepath"] == "audio/train/spk1-a-000.flac"
    assert sf.info(str(out / train[1]["audio_filepath"])).frames == int(2.5 * fakes.RATE)
    test = manifest(out / "test.jsonl")
    assert test[0]["text"] == "good night" and Path(test[0]["audio_filepath"]).is_absolute()
    check_data(capsys, out / "train.jsonl", out / "test.jsonl")


def test_kaldi_pipe_commands_are_refused_and_never_run(tmp_path: Path, capsys) -> None:
    data = fakes.kaldi(tmp_path) / "train"
    ran = tmp_path / "ran"
    (data / "wav.scp").write_text(f"rec_a touch {ran} |\nrec_b sph2pipe -f wav b.sph |\n")
    code, _, err = prepare(capsys, "kaldi", str(data), "--output", str(tmp_path / "out"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "wav.scp:1" in err and "never runs commands" in err and "sph2pipe -f wav" in err
    assert not ran.exists()


def test_tedlium_stm_segments_from_sphere_ignored_gaps_counted(tmp_path: Path, capsys) -> None:
    root, out = fakes.tedlium(tmp_path), tmp_path / "out"
    assert prepare(capsys, "tedlium", str(root), "--output", str(out))[0] == 0
    train = manifest(out / "legacy-train.jsonl")
    assert [u["text"] for u in train] == ["it's a good day", "we don't know why"]
    assert [u["duration"] for u in train] == [1.7, 2.3] and train[0]["speaker"] == "AlGore_2009"
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["dropped"]["ignore_time_segment_in_scoring"]["count"] == 2
    assert report["changed"]["contractions joined"]["count"] == 4
    check_data(capsys, out / "legacy-train.jsonl", out / "legacy-dev.jsonl")


def test_shorten_compressed_sphere_is_dropped_with_advice(tmp_path: Path, capsys) -> None:
    root, out = fakes.tedlium(tmp_path), tmp_path / "out"
    sph = root / "legacy" / "train" / "sph" / "AlGore_2009.sph"
    sph.write_bytes(sph.read_bytes().replace(b"-s3 pcm", b"-s26 pcm,embedded-shorten-v2.00"))
    assert prepare(capsys, "tedlium", str(root), "--output", str(out))[0] == 0
    report = json.loads((out / "prepare_report.json").read_text())
    dropped = report["dropped"]["shorten-compressed SPHERE"]
    assert dropped["count"] == 2 and "sph2pipe" in dropped["examples"][0]["detail"]
    assert not (out / "legacy-train.jsonl").exists() and (out / "legacy-dev.jsonl").is_file()


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("librispeech", None, "no */*/*/*.trans.txt under"),
        ("commonvoice", None, "no train.tsv, dev.tsv or test.tsv in"),
        ("speechcommands", None, "no validation_list.txt in"),
        ("kaldi", None, "no wav.scp in"),
        ("kaldi", "wav.scp", "no text beside"),
        ("tedlium", None, "no stm/*.stm in"),
        ("tedlium", "stm/talk.stm", "no sph/ folder beside"),
        ("commonvoice", "train.tsv", "no clips/ folder in"),
    ],
)
def test_wrong_layouts_fail_in_one_line_naming_the_expected_file(
    tmp_path: Path, capsys, name: str, make: str | None, expected: str
) -> None:
    root = tmp_path / "corpus"
    root.mkdir()
    if make:
        (root / make).parent.mkdir(parents=True, exist_ok=True)
        (root / make).write_text("x y\n")
    code, _, err = prepare(capsys, name, str(root), "--output", str(tmp_path / "out"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert err.startswith(f"error: prepare {name} {root}") and expected in err
    assert "(expected " in err
