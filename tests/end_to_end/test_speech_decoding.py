"""End to end through the real configs: a joint CTC/attention model and a language model,
evaluated with every decoder; transcripts with word timestamps, subtitles, attention plots."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import torch.nn.functional as F

from avseq.cli.main import main
from avseq.config import load_config
from avseq.data.speech.lm_text import read_sentences, unigram_perplexity
from avseq.data.speech.manifest import read_manifest
from avseq.data.synth.speech import CorpusSpec, synthesize
from avseq.decoding.attention import attention_greedy_texts
from avseq.inference.speech import DecodeOptions, Transcriber
from avseq.media.audio import iter_chunks, load_audio
from avseq.models.checkpoint import load_language_model
from avseq.models.components.lm import RNNLanguageModel
from avseq.text.tokenizer import CharTokenizer
from avseq.train import train

from .test_speech import check_report, tiny_lm_overrides, tiny_overrides

TINY_DECODER = (
    "model.net.decoder.hidden_size=32",
    "model.net.decoder.attn_size=16",
    "model.net.decoder.embed_size=8",
)
TINY_JOINT = ("experiment=speech_joint", *TINY_DECODER)

pytestmark = pytest.mark.slow  # every test here trains models (module fixtures)


@pytest.fixture(scope="module")
def models(tiny_corpus: CorpusSpec, tmp_path_factory) -> dict:
    runs = tmp_path_factory.mktemp("runs")
    joint = train(load_config(tiny_overrides(tiny_corpus, runs, *TINY_JOINT)))
    lm = train(load_config(tiny_lm_overrides(tiny_corpus, runs)))
    return {"joint": joint["best_checkpoint"], "lm": lm["best_checkpoint"], "lm_result": lm}


def heldout_perplexity(net: RNNLanguageModel, sentences: list[list[int]]) -> float:
    """Per-token perplexity of token-id `sentences` (end of sentence included) under `net`."""
    nll, n = 0.0, 0
    with torch.no_grad():
        for tokens in sentences:
            logits = net.eval()(torch.tensor([[net.bos, *tokens]]))[0]  # (L + 1, V + 2)
            targets = torch.tensor([*tokens, net.eos])
            nll += float(F.cross_entropy(logits, targets, reduction="sum"))
            n += len(targets)
    return math.exp(nll / n)


def test_the_trained_lm_beats_the_unigram_baseline(models: dict, tiny_corpus: CorpusSpec) -> None:
    tokenizer = CharTokenizer()
    train_text, _ = read_sentences(tiny_corpus.manifest("train"), tokenizer)
    held_out, _ = read_sentences(tiny_corpus.manifest("val"), tokenizer)
    baseline = unigram_perplexity(train_text, held_out, tokenizer.vocab_size + 1)
    result = models["lm_result"]
    assert result["val/unigram_ppl"] == pytest.approx(baseline)  # logged beside the LM's
    assert result["val/ppl"] < baseline
    # the logged perplexity is the saved model's on the held-out text, and an untrained LM
    # of the same size (about uniform over the units) does worse than the baseline
    trained = load_language_model(models["lm"], tokenizer)
    metrics = (Path(models["lm_result"]["run_dir"]) / "csv" / "metrics.csv").read_text()
    logged = [float(r["val/ppl"]) for r in csv.DictReader(metrics.splitlines()) if r["val/ppl"]]
    assert heldout_perplexity(trained, held_out) == pytest.approx(min(logged), rel=1e-4)
    untrained = RNNLanguageModel(**trained.config)
    assert (
        heldout_perplexity(trained, held_out) < baseline < heldout_perplexity(untrained, held_out)
    )


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
    summary, _ = check_report(tmp_path)  # its counts are those of its predictions
    assert summary["decoding"] == describe(decoding)


def describe(decoding: list[str]) -> str:
    """What the report must say about `decoding` (the arguments given to avseq evaluate)."""
    given = dict(zip(decoding[::2], decoding[1::2], strict=True))
    parts = [given["--decoder"]]
    if "--beam" in given:
        parts.append(f"beam {given['--beam']}")
    if given["--decoder"] == "joint":  # CTC's weight, 0.3 by default
        parts.append(f"ctc_weight {given.get('--ctc-weight', 0.3)}")
    if "--lm" in given:  # the default weights: 1 for a word n-gram LM, 0.5 for a recurrent one
        weight = 1.0 if given["--lm"].endswith(".arpa") else 0.5
        parts.append(f"LM ({Path(given['--lm']).name}, weight {weight})")
    if float(given.get("--word-score", 0)):
        parts.append(f"word_score {float(given['--word-score'])}")
    return ", ".join(parts)


def evaluate_texts(ckpt: str, out: Path, *decoding: str) -> list[str]:
    """The hypotheses `avseq evaluate` writes for the test split with `decoding`."""
    assert main(["evaluate", "--checkpoint", ckpt, "--output-dir", str(out), *decoding]) == 0
    return [
        json.loads(x)["hypothesis"] for x in (out / "predictions.jsonl").read_text().splitlines()
    ]


def test_ctc_beam_of_width_one_is_greedy(models: dict, tmp_path: Path) -> None:
    greedy = evaluate_texts(models["joint"], tmp_path / "greedy", "--decoder", "greedy")
    beam = evaluate_texts(
        models["joint"], tmp_path / "beam", "--decoder", "ctc-beam", "--beam", "1"
    )
    assert beam == greedy


def test_attention_beam_of_width_one_is_greedy(models: dict, tiny_corpus: CorpusSpec) -> None:
    options = DecodeOptions("attention", beam=1)
    transcriber = Transcriber(models["joint"], device="cpu", options=options)
    utts, _ = read_manifest(tiny_corpus.manifest("test"))
    for utt in utts[:3]:  # one at a time: greedy decoding runs to the batch's longest input
        wave = load_audio(utt.audio_filepath, transcriber.sample_rate)
        with torch.inference_mode():
            states, frames = transcriber.model.encode(wave[None], torch.tensor([wave.numel()]))
            greedy = attention_greedy_texts(
                transcriber.model, states, frames, transcriber.tokenizer
            )
        assert transcriber.transcribe_waves([wave]) == [" ".join(greedy[0].split())]


def test_lexicon_from_a_manifest(models: dict, tiny_corpus: CorpusSpec, tmp_path: Path) -> None:
    train_manifest = str(tiny_corpus.manifest("train"))
    args = ["evaluate", "--checkpoint", models["joint"], "--output-dir", str(tmp_path)]
    # a word bonus, so even this barely trained model writes words
    lexicon = ["--decoder", "ctc-beam", "--lexicon", train_manifest, "--word-score", "5"]
    assert main([*args, *lexicon]) == 0
    words = {
        w
        for line in Path(train_manifest).read_text().splitlines()
        for w in json.loads(line)["text"].split()
    }
    summary, rows = check_report(tmp_path)
    assert "lexicon" in summary["decoding"].split(", ")
    hypotheses = [r["hypothesis"].split() for r in rows]
    assert any(hypotheses) and all(set(h) <= words for h in hypotheses)


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


def test_a_long_file_decodes_as_its_pieces_with_file_times(models: dict, tmp_path: Path) -> None:
    """Chunks are cut in the pauses between sentences, one sentence each, and the long file's
    transcript and word times are those of its pieces decoded one at a time, shifted to where
    each starts in the file."""
    phrases = ["open the door", "call my sister now", "seven thirty", "play some jazz"]
    parts, speech = [], []  # speech: (start, end) seconds of each phrase in the file
    t = 0.0
    for i, text in enumerate(phrases * 3):
        wave = synthesize(text, ("en-us", "en")[i % 2], 150 + 10 * (i % 3), 50, 16000).numpy()
        parts += [wave, np.zeros(int(0.7 * 16000), np.float32)]
        loud = np.flatnonzero(np.abs(wave) > 0.01)
        speech.append((t + loud[0] / 16000, t + loud[-1] / 16000))
        t += len(wave) / 16000 + 0.7
    long = tmp_path / "long.wav"
    sf.write(str(long), np.concatenate(parts), 16000, subtype="FLOAT")
    transcriber = Transcriber(models["joint"], chunk_seconds=6.0, timestamps=True)
    whole = transcriber.transcribe_long(long)
    chunks = list(iter_chunks(long, 16000, 6.0))
    bounds = [start for start, _ in chunks] + [t]
    assert len(chunks) == len(speech)
    for (a, b), lo, hi in zip(speech, bounds, bounds[1:], strict=False):
        assert lo < a < b < hi  # each phrase whole, in a chunk of its own
    pieces = [transcriber.decode_waves([w], [start])[0] for start, w in chunks]
    assert whole.text == " ".join(p.text for p in pieces if p.text)
    separate = [w for p in pieces for w in p.words or []]
    assert [(w.word, w.start, w.end) for w in whole.words] == [
        (w.word, w.start, w.end) for w in separate
    ]
    assert [w.confidence for w in whole.words] == pytest.approx([w.confidence for w in separate])
    assert whole.words and all(0 <= w.start <= w.end <= t for w in whole.words)
