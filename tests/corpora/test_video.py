"""`avseq prepare` on fake video corpora: Kinetics CSVs and clips, HMDB51 split files and folds,
MSVD descriptions to a captions JSON with the standard split; `avseq check-data` accepts what
is written, and missing videos are counted and listed, not fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avseq.cli.main import main
from avseq.data.corpora.msvd import split_sizes
from avseq.data.video.annotations import load_annotations
from avseq.data.video.captions import load_captions
from tests.corpora import fakes
from tests.corpora.test_speech import check_data, prepare


def test_kinetics_csv_to_annotations_with_missing_clips_listed(tmp_path: Path, capsys) -> None:
    root, out = fakes.kinetics(tmp_path), tmp_path / "out"
    code, printed, _ = prepare(capsys, "kinetics", str(root), "--output", str(out))
    assert code == 0 and "missing video: 1" in printed
    assert (out / "classes.txt").read_text().splitlines() == ["abseiling", "air drumming"]
    clips, classes, problems = load_annotations(out / "train.txt")
    assert classes == ["abseiling", "air drumming"] and not problems
    assert [c.label for c in clips] == [0, 0, 1, 1]
    assert all(c.path.is_absolute() and c.path.is_file() for c in clips)
    val, _, _ = load_annotations(out / "val.txt")
    assert [c.path.name for c in val] == [
        "mno345LMN_4_000001_000011.mp4",
        "pqr678IJK_5_000002_000012.mp4",
    ]
    dropped = (out / "dropped.txt").read_text()
    assert "val/stu901FGH_6_000003_000013\tmissing video" in dropped
    check_data(capsys, out / "train.txt", out / "val.txt")


@pytest.mark.parametrize("fold", ["1", "2"])
def test_hmdb51_split_files_give_the_fold(tmp_path: Path, capsys, fold: str) -> None:
    root, out = fakes.hmdb51(tmp_path), tmp_path / "out"
    assert prepare(capsys, "hmdb51", str(root), "--output", str(out), "--fold", fold)[0] == 0
    train, classes, _ = load_annotations(out / "train.txt")
    test, _, _ = load_annotations(out / "test.txt")
    assert classes == ["brush_hair", "cartwheel"]
    first, second = (0, 1) if fold == "1" else (1, 0)  # marks "120" in fold 1, "210" in fold 2
    assert [c.path.name for c in train] == [v[first] for v in fakes.HMDB51.values()]
    assert [c.path.name for c in test] == [v[second] for v in fakes.HMDB51.values()]
    assert [c.label for c in train] == [0, 1]
    check_data(capsys, out / "train.txt", out / "test.txt")


def test_msvd_descriptions_to_captions_json_with_splits(tmp_path: Path, capsys) -> None:
    root, out = fakes.msvd(tmp_path), tmp_path / "out"
    assert prepare(capsys, "msvd", str(root), "--output", str(out))[0] == 0
    videos, problems = load_captions(out / "captions.json")
    assert not problems
    clips = fakes.MSVD_CLIPS  # already in sorted order; the last one's file is missing
    assert {v: videos[v].split for v in videos} == {
        clips[0]: "train",
        clips[1]: "train",
        clips[2]: "val",
    }
    assert videos[clips[1]].captions == ("a man is playing a guitar 1", "someone plays music")
    report = json.loads((out / "prepare_report.json").read_text())
    assert report["dropped"]["missing video"]["count"] == 1
    assert report["dropped"]["empty caption"]["count"] == 1
    check_data(capsys, out / "captions.json")


def test_msvd_split_sizes_are_the_standard_split_or_its_proportions() -> None:
    assert split_sizes(1970) == (1200, 100, 670)
    assert split_sizes(197) == (120, 10, 67)
    assert split_sizes(4) == (2, 1, 1)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("kinetics", "no CSV with youtube_id,time_start,time_end,label columns under"),
        ("hmdb51", "no *_test_split1.txt under"),
        ("msvd", "no AllVideoDescriptions.txt under"),
    ],
)
def test_wrong_video_layouts_fail_in_one_line(
    tmp_path: Path, capsys, name: str, expected: str
) -> None:
    code, _, err = prepare(capsys, name, str(tmp_path), "--output", str(tmp_path / "out"))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert expected in err and "(expected " in err


def test_fold_is_refused_for_corpora_without_folds(tmp_path: Path, capsys) -> None:
    code = main(["prepare", "kinetics", str(tmp_path), "--output", str(tmp_path), "--fold", "2"])
    assert code == 2 and "only hmdb51 has folds" in capsys.readouterr().err
