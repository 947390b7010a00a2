"""Keyword spotting end to end through the real configs: a fake Speech Commands layout ->
`avseq prepare speechcommands` -> `avseq train experiment=speech_commands` (a few steps, CPU)
-> the checkpoint rebuilds -> `avseq evaluate` (accuracy, confusion matrix) -> `avseq classify`
(top-k words); and the one-line errors for manifests without labels."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from avseq.cli.main import main
from avseq.data.synth.speech import CorpusSpec
from avseq.models.checkpoint import load_keyword_model
from tests.corpora import fakes

from ..conftest import write_manifest
from .test_speech import TINY_MODEL

SPLITS = ("train", "val", "test")


def keyword_overrides(manifests: dict[str, Path], runs: Path, *extra: str) -> list[str]:
    """experiment=speech_commands on `manifests` (train/val/test), tiny and on the CPU."""
    return [
        "experiment=speech_commands",
        *(f"data.{split}_manifest={manifests[split]}" for split in SPLITS),
        "data.batch_size=2",
        "data.eval_batch_size=4",
        "data.num_workers=0",
        "trainer.accelerator=cpu",
        "trainer.precision=32-true",
        "trainer.max_epochs=1",
        "trainer.log_every_n_steps=1",
        "logger.tensorboard=null",
        "model.net.head.attn_size=16",
        f"paths.runs_dir={runs}",
        *TINY_MODEL,
        *extra,
    ]


@pytest.fixture(scope="session")
def keyword_manifests(tiny_corpus: CorpusSpec, tmp_path_factory) -> dict[str, Path]:
    """The tiny corpus's manifests with a `label`: a transcript's first word when two or more
    training transcripts start with it, else "other" (Speech Commands' unknown-word class in
    miniature), so every split's labels are training classes."""
    out = tmp_path_factory.mktemp("keywords")
    entries = {}
    for split in SPLITS:
        source = tiny_corpus.manifest(split)
        lines = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
        for e in lines:
            e["audio_filepath"] = str(source.parent / e["audio_filepath"])
        entries[split] = lines
    firsts = Counter(e["text"].split()[0] for e in entries["train"])
    words = {w for w, n in firsts.items() if n >= 2}
    manifests = {}
    for split, lines in entries.items():
        for e in lines:
            first = e["text"].split()[0]
            e["label"] = first if first in words else "other"
        manifests[split] = write_manifest(out / f"{split}.jsonl", lines)
    return manifests


@pytest.mark.slow
def test_prepared_speech_commands_train_evaluate_and_classify(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "speech_commands"
    root = fakes.speechcommands(tmp_path)
    assert main(["prepare", "speechcommands", str(root), "--output", str(out)]) == 0
    manifests = {
        "train": out / "training.jsonl",
        "val": out / "validation.jsonl",
        "test": out / "testing.jsonl",
    }
    runs = tmp_path / "runs"
    assert main(["train", *keyword_overrides(manifests, runs)]) == 0
    best = next(runs.rglob("best.ckpt"))
    model, meta = load_keyword_model(best)
    assert meta["classes"] == ["no", "yes"]  # the training labels, sorted
    assert model.head.out.out_features == 2 and not model.training
    assert meta["test_manifest"] == str(manifests["test"].resolve())
    capsys.readouterr()

    ev = tmp_path / "eval"
    assert main(["evaluate", "--checkpoint", str(best), "--output-dir", str(ev)]) == 0
    summary = json.loads((ev / "summary.json").read_text())
    assert summary["utterances"] == 2 and summary["skipped"] == 0  # the testing list's two
    assert 0.0 <= summary["accuracy"] <= 1.0
    counts = summary["confusion_matrix"]["counts"]
    assert summary["confusion_matrix"]["classes"] == ["no", "yes"]
    assert [sum(row) for row in counts] == [1, 1]  # one test word of each class
    assert sum(counts[i][i] for i in range(2)) == round(2 * summary["accuracy"])
    assert set(summary["per_class"]) == {"no", "yes"}
    assert (ev / "confusion_matrix.png").stat().st_size > 0
    rows = [json.loads(line) for line in (ev / "predictions.jsonl").read_text().splitlines()]
    assert sorted(r["label"] for r in rows) == ["no", "yes"]
    assert "accuracy" in capsys.readouterr().out

    wav = root / "yes" / "0a7c2a8d_nohash_0.wav"
    assert main(["classify", str(wav), "--checkpoint", str(best), "--top-k", "2"]) == 0
    result = json.loads(capsys.readouterr().out.strip())
    assert result["audio_filepath"] == str(wav)
    assert [w["label"] for w in result["labels"]] in (["yes", "no"], ["no", "yes"])
    assert sum(w["score"] for w in result["labels"]) == pytest.approx(1.0, abs=1e-3)

    unlabelled = write_manifest(tmp_path / "words.jsonl", [{"audio_filepath": str(wav)}])
    args = ["evaluate", "--checkpoint", str(best), "--manifest", str(unlabelled)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(unlabelled) in err and '"label"' in err


def test_a_training_manifest_without_labels_is_one_line_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    wav = fakes.write_audio(tmp_path / "a.wav", 1.0)
    lines = [{"audio_filepath": str(wav), "duration": 1.0, "text": "yes"}]
    train = write_manifest(tmp_path / "train.jsonl", lines)
    manifests = {split: train for split in SPLITS}
    assert main(["train", *keyword_overrides(manifests, tmp_path / "runs")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert str(train) in err[0] and 'no line has a "label" field' in err[0]
    assert "avseq prepare speechcommands" in err[0]
