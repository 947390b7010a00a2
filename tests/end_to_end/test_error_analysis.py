"""`avseq evaluate`'s error analysis: sclite trn files, alignments, the most frequent errors and
WER per speaker, agreeing with the report's own counts (and with sclite, when installed)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from avseq.errors import AvseqError
from avseq.evaluation.speech import evaluate_speech
from avseq.metrics.asr_analysis import SCLITE_PATHS

from ..conftest import write_manifest, write_tone
from .test_speech import ScriptedTranscriber

REFS = ["call my sister", "call the office", "turn on the lights", "open the door"]
HYPS = ["cal my sister", "cal the office now", "turn the lights", "open the door"]
SPEAKERS = ["ann-1", "ann-1", "bob_2", "bob_2"]


def evaluated(tmp_path: Path, **kwargs) -> tuple[dict, Path]:
    entries = [
        {"audio_filepath": str(write_tone(tmp_path / f"{i}.wav")), "duration": 1.0, "text": t}
        | {"speaker": s, "room": "small" if i % 2 else "large"}
        for i, (t, s) in enumerate(zip(REFS, SPEAKERS, strict=True))
    ]
    manifest = write_manifest(tmp_path / "known.jsonl", entries)
    out = tmp_path / "ev"
    summary = evaluate_speech(ScriptedTranscriber(list(HYPS)), manifest, out, **kwargs)
    return summary, out


def test_trn_files_alignments_and_frequent_errors(tmp_path: Path) -> None:
    summary, out = evaluated(tmp_path)
    ref_lines = (out / "ref.trn").read_text().splitlines()
    hyp_lines = (out / "hyp.trn").read_text().splitlines()
    assert ref_lines[0] == "call my sister (ann.1-000000)"
    assert hyp_lines[1] == "cal the office now (ann.1-000001)"
    assert ref_lines[2].endswith("(bob.2-000002)")  # sclite's speaker: before the first "-"
    errors = summary["errors"]
    assert errors["substitutions"][0] == {"reference": "call", "hypothesis": "cal", "count": 2}
    assert errors["deletions"] == [{"word": "on", "count": 1}]
    assert errors["insertions"] == [{"word": "now", "count": 1}]
    alignments = (out / "alignments.txt").read_text()
    assert "REF: turn on the lights" in alignments and "HYP: turn ** the lights" in alignments
    groups = {g["group"]: g for g in errors["groups"]}
    assert errors["group_field"] == "speaker"
    assert groups["ann-1"]["errors"] == 3 and groups["ann-1"]["reference_length"] == 6
    assert groups["bob_2"]["errors"] == 1 and groups["bob_2"]["reference_length"] == 7
    total = summary["words"]
    assert sum(g["errors"] for g in errors["groups"]) == total["errors"] == 4
    assert "| ann-1 | 2 | 50.00% | 3 | 6 |" in (out / "errors.md").read_text()


def test_group_by_any_field_and_an_unknown_one(tmp_path: Path) -> None:
    summary, _ = evaluated(tmp_path, group_by="room")
    assert {g["group"] for g in summary["errors"]["groups"]} == {"small", "large"}
    again = tmp_path / "again"
    again.mkdir()
    with pytest.raises(AvseqError, match="--group-by accent: no utterance"):
        evaluated(again, group_by="accent")


@pytest.mark.skipif(
    not (shutil.which("sclite") or any(Path(p).is_file() for p in SCLITE_PATHS)),
    reason="sclite (Debian's sctk) is not installed (make setup installs it)",
)
def test_sclite_scores_the_trn_files_as_the_report_does(tmp_path: Path) -> None:
    summary, out = evaluated(tmp_path)
    sclite = summary["errors"]["sclite"]
    words = summary["words"]
    assert sclite["errors"] == words["errors"]
    assert sclite["words"] == words["reference_length"]
    assert sclite["wer"] == pytest.approx(summary["wer"])
    assert json.loads((out / "summary.json").read_text())["errors"]["sclite"] == sclite
