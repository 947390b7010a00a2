"""Keyword data: classes from the training manifest's labels, lines with unknown or missing
labels left out as bad items, a given class list filtering the words, labelled batches."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from avseq.data.speech.keywords import KeywordDataModule, collate_keywords
from avseq.errors import AvseqError

from ..conftest import write_manifest, write_tone


@pytest.fixture
def manifests(tmp_path: Path) -> tuple[Path, Path]:
    wav = str(write_tone(tmp_path / "a.wav", seconds=0.5))
    train = [{"audio_filepath": wav, "label": w} for w in ("yes", "no", "yes", "up")]
    val = [
        {"audio_filepath": wav, "label": "yes"},
        {"audio_filepath": wav, "label": "down"},  # not a training word
        {"audio_filepath": wav, "text": "no"},  # no label
    ]
    write_manifest(tmp_path / "train.jsonl", train)
    return tmp_path / "train.jsonl", write_manifest(tmp_path / "val.jsonl", val)


def test_classes_and_bad_lines(manifests: tuple[Path, Path], caplog) -> None:
    train, val = manifests
    data = KeywordDataModule(str(train), str(val), num_workers=0)
    assert data.task_inputs() == {"classes": ["no", "up", "yes"], "test_manifest": None}
    with caplog.at_level(logging.WARNING):
        data.setup("validate")
    assert "skipped 2 bad line(s)" in caplog.text and "'down'" in caplog.text
    dataset = data.datasets["val"]
    assert len(dataset) == 1 and dataset[0]["label"] == 2
    batch = collate_keywords([dataset[0], None, dataset[0]])
    assert batch["labels"].tolist() == [2, 2] and batch["skipped"] == 1
    assert batch["waves"].shape == (2, 8000) and batch["wave_lengths"].tolist() == [8000, 8000]


def test_given_classes_leave_other_words_out(manifests: tuple[Path, Path]) -> None:
    train, val = manifests
    data = KeywordDataModule(str(train), str(val), classes=["yes", "no"], num_workers=0)
    data.setup("fit")
    assert data.datasets["train"].labels == [0, 1, 0]  # "up" is left out, not an error


def test_one_class_is_not_a_classifier(tmp_path: Path) -> None:
    wav = str(write_tone(tmp_path / "a.wav"))
    train = write_manifest(tmp_path / "t.jsonl", [{"audio_filepath": wav, "label": "yes"}] * 2)
    with pytest.raises(AvseqError, match="at least two classes"):
        KeywordDataModule(str(train), str(train)).task_inputs()
