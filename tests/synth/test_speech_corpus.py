"""The built-in corpus: held-out voices and sentences, determinism, espeak-ng paths."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from avseq.data.synth import espeak
from avseq.data.synth.flite import available as flite_available
from avseq.data.synth.speech import (
    FLITE_PREFIX,
    UNSEEN_VOICE_SPLIT,
    CorpusSpec,
    corpus_voices,
    plan_jobs,
    split_voices,
    synthesize,
)
from avseq.errors import AvseqError

from ..conftest import needs_espeak


def test_test_and_val_voices_and_sentences_never_occur_in_training() -> None:
    spec = CorpusSpec(train_hours=0.5, val_hours=0.1, test_hours=0.1, seed=4)
    voices = split_voices(spec)
    assert not set(voices["train"]) & set(voices["test"])
    assert not set(voices["train"]) & set(voices["val"])
    assert not set(voices["val"]) & set(voices["test"])
    jobs = plan_jobs(spec)
    train_texts = {j["text"] for j in jobs["train"]}
    everywhere = corpus_voices(spec)
    for split in ("val", "test", UNSEEN_VOICE_SPLIT):
        assert not {j["text"] for j in jobs[split]} & train_texts
        assert {j["voice"] for j in jobs[split]} <= set(everywhere[split])
    # the unseen flite voice speaks its split only; the test split is espeak-ng only
    assert {j["voice"] for j in jobs[UNSEEN_VOICE_SPLIT]} == {FLITE_PREFIX + spec.unseen_voice}
    assert not any(j["voice"].startswith(FLITE_PREFIX) for j in jobs["test"])
    for split in ("train", "val"):
        assert FLITE_PREFIX + spec.unseen_voice not in {j["voice"] for j in jobs[split]}
    flite_share = np.mean([j["voice"].startswith(FLITE_PREFIX) for j in jobs["train"]])
    assert abs(flite_share - spec.flite_share) < 0.1
    flite_jobs = [j for j in jobs["train"] if j["voice"].startswith(FLITE_PREFIX)]
    assert {j["voice"] for j in flite_jobs} == {FLITE_PREFIX + v for v in spec.flite_voices}
    assert all(spec.stretch[0] <= j["stretch"] <= spec.stretch[1] for j in flite_jobs)
    assert plan_jobs(spec) == jobs  # deterministic for a seed
    assert plan_jobs(CorpusSpec(train_hours=0.5, val_hours=0.1, test_hours=0.1, seed=5)) != jobs


def test_corpus_folder_changes_with_settings(tmp_path) -> None:
    a = CorpusSpec(root=str(tmp_path), train_hours=1.0)
    assert a.path == CorpusSpec(root=str(tmp_path), train_hours=1.0, workers=7).path
    assert a.path != CorpusSpec(root=str(tmp_path), train_hours=2.0).path


@needs_espeak
def test_library_and_command_line_speak_the_same(tiny_corpus: CorpusSpec, tmp_path: Path) -> None:
    # in a fresh process, as the command line runs: libespeak-ng keeps state from earlier
    # utterances (another voice spoken first changes the samples), and a variant without breath
    # noise, which comes from the C library's rand()
    code = (
        "import sys, numpy as np; from avseq.data.synth import espeak; "
        "w, r = espeak.speak('call my sister', 'en-gb-scotland+m3', 150, 40); "
        "np.save(sys.argv[1], w); print(r)"
    )
    out = tmp_path / "lib.npy"
    done = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lib, rate = np.load(out), int(done.stdout)
    cmd, rate_cmd = espeak._speak_command("call my sister", "en-gb-scotland+m3", 150, 40)
    assert rate == rate_cmd
    n = min(len(lib), len(cmd))  # the command line appends a longer trailing pause
    assert np.abs(lib[:n] - cmd[:n]).max() < 1e-3
    entries = [json.loads(x) for x in tiny_corpus.manifest("test").read_text().splitlines()]
    assert entries and all(e["voice"] in split_voices(tiny_corpus)["test"] for e in entries)


def test_unseen_voice_must_stay_out_of_training() -> None:
    with pytest.raises(AvseqError, match="must not be trained on"):
        CorpusSpec(flite_voices=("slt", "rms"), unseen_voice="rms")
    with pytest.raises(AvseqError, match="flite has no voice 'bob'"):
        CorpusSpec(unseen_voice="bob")


@pytest.mark.skipif(not flite_available(), reason="flite is not installed (make setup installs it)")
def test_flite_rate_and_pitch_change_the_speech() -> None:
    text = "could you open the window please"
    base = synthesize(text, "flite:slt", 1.0, 180.0, 16000)
    slow = synthesize(text, "flite:slt", 1.25, 180.0, 16000)
    assert base.dtype == slow.dtype and base.abs().max() <= 1.0
    assert 1.15 < slow.numel() / base.numel() < 1.35
    low = synthesize(text, "flite:slt", 1.0, 150.0, 16000)
    assert low.numel() == base.numel() and not low.equal(base)
    # 8 kHz voices come out at the corpus rate
    assert synthesize(text, "flite:kal", 1.0, 110.0, 16000).numel() > 16000
