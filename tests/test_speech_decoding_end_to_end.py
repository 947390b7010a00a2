"""End to end through the real configs: a joint CTC/attention model and a language model,
evaluated with every decoder; transcripts with word timestamps, subtitles, attention plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avseq.cli.main import main
from avseq.config import load_config
from avseq.data.synth.speech import CorpusSpec, synthesize
from avseq.train import train

from .test_end_to_end import tiny_lm_overrides, tiny_overrides

TINY_JOINT = (
    "experiment=speech_joint",
    "model.decoder.hidden_size=32",
    "model.decoder.attn_size=16",
    "model.decoder.embed_size=8",
)


@pytest.fixture(scope="module")
def models(tiny_corpus: CorpusSpec, tmp_path_factory) -> dict:
    runs = tmp_path_factory.mktemp("runs")
    joint = train(load_config(tiny_overrides(tiny_corpus, runs, *TINY_JOINT)))
    lm = train(load_config(tiny_lm_overrides(tiny_corpus, runs)))
    return {"joint": joint["best_checkpoint"], "lm": lm["best_checkpoint"], "lm_result": lm}


def test_lm_training_reports_perplexity(models: dict) -> None:
    result = models["lm_result"]
    assert Path(models["lm"]).is_file()
    assert result["val/ppl"] > 1.0
    assert result["val/ppl"] == pytest.approx(np.exp(result["val/loss"]), rel=1e-4)
    assert result["val/unigram_ppl"] > 1.0  # the baseline, logged beside it


@pytest.mark.parametrize(
    "decoding",
    [
        ["--decoder", "greedy"],
        ["--decoder", "ctc-beam", "--beam", "4"],
        ["--decoder", "ctc-beam", "--beam", "4", "--lm", "LM"],
        ["--decoder", "attention", "--beam", "3"],
        ["--decoder", "joint", "--beam", "3", "--lm", "LM", "--ctc-weight", "0.5"],
    ],
)
def test_evaluate_with_each_decoder(models: dict, decoding: list[str], tmp_path: Path) -> None:
    decoding = [models["lm"] if a == "LM" else a for a in decoding]
    args = ["evaluate", "--checkpoint", models["joint"], "--output-dir", str(tmp_path)]
    assert main([*args, *decoding]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["utterances"] > 0 and summary["cer"] >= 0
    assert summary["decoding"].startswith(decoding[1])
    assert ("LM" in summary["decoding"]) == ("--lm" in decoding)


def test_lexicon_from_a_manifest(models: dict, tiny_corpus: CorpusSpec, tmp_path: Path) -> None:
    train_manifest = str(tiny_corpus.manifest("train"))
    args = ["evaluate", "--checkpoint", models["joint"], "--output-dir", str(tmp_path)]
    assert main([*args, "--decoder", "ctc-beam", "--lexicon", train_manifest]) == 0
    words = {
        w
        for line in Path(train_manifest).read_text().splitlines()
        for w in json.loads(line)["text"].split()
    }
    rows = [json.loads(x) for x in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert all(set(r["hypothesis"].split()) <= words for r in rows)


def test_word_lm_from_a_manifest(models: dict, tiny_corpus: CorpusSpec, tmp_path: Path) -> None:
    """avseq word-lm builds an ARPA model of the training transcripts; CTC beam search with it
    (and no --lexicon) writes only its words."""
    train_manifest = str(tiny_corpus.manifest("train"))
    arpa = tmp_path / "words.arpa"
    assert main(["word-lm", train_manifest, "--order", "3", "--output", str(arpa)]) == 0
    assert arpa.read_text().startswith("\n\\data\\")
    args = ["evaluate", "--checkpoint", models["joint"], "--output-dir", str(tmp_path / "ev")]
    assert main([*args, "--decoder", "ctc-beam", "--lm", str(arpa), "--lm-weight", "1"]) == 0
    words = {
        w
        for line in Path(train_manifest).read_text().splitlines()
        for w in json.loads(line)["text"].split()
    }
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    assert "lexicon" in summary["decoding"] or "words.arpa" in summary["decoding"]
    rows = [json.loads(x) for x in (tmp_path / "ev" / "predictions.jsonl").read_text().splitlines()]
    assert all(set(r["hypothesis"].split()) <= words for r in rows)


def test_transcribe_timestamps_srt_and_attention_plot(models: dict, tmp_path: Path) -> None:
    speech = synthesize("open the door please", "en-us", 160, 50, 16000).numpy()
    short = tmp_path / "short.wav"
    sf.write(str(short), speech, 16000)
    long = tmp_path / "long.wav"
    sf.write(str(long), np.tile(np.concatenate([speech, np.zeros(8000)]), 6), 16000)
    out = tmp_path / "out.jsonl"
    base = ["transcribe", "--checkpoint", models["joint"], str(short), str(long)]
    plots = tmp_path / "plots"
    args = [*base, "--timestamps", "--output", str(out), "--chunk-seconds", "5"]
    assert main([*args, "--decoder", "joint", "--attention-plot", str(plots)]) == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["audio_filepath"] for r in rows] == [str(short), str(long)]
    for row in rows:
        words = row["words"]
        assert words is not None and [w["word"] for w in words] == row["text"].split()
        starts = [w["start"] for w in words]
        assert starts == sorted(starts)
        assert all(w["start"] <= w["end"] and 0 <= w["confidence"] <= 1 for w in words)
    duration = (len(speech) + 8000) * 6 / 16000
    assert all(w["end"] <= duration + 1e-3 for w in rows[1]["words"])  # times in ms
    assert (plots / "short.png").is_file() and rows[0]["attention_plot"].endswith("short.png")
    srt_dir = tmp_path / "srt"
    assert main([*base, "--format", "srt", "--output", str(srt_dir)]) == 0
    srt = (srt_dir / "long.srt").read_text()
    if rows[1]["text"]:
        assert srt.startswith("1\n00:00:") and " --> " in srt


def test_decoder_choices_are_checked(models: dict, tmp_path: Path, capsys) -> None:
    audio = tmp_path / "a.wav"
    sf.write(str(audio), np.full(16000, 0.1), 16000)
    ckpt = models["joint"]
    cases = [
        (["--lm", models["lm"]], "need a beam search"),
        (["--decoder", "attention", "--lexicon", str(audio)], "ctc-beam only"),
        (["--decoder", "ctc-beam", "--lm", ckpt], "'speech' checkpoint"),
        (["--decoder", "attention", "--beam", "0"], "at least 1"),
    ]
    for extra, words in cases:
        assert main(["transcribe", "--checkpoint", ckpt, str(audio), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and words in err and "\n" not in err
