"""SentencePiece subword units end to end through the real configs: the tokenizer is trained
on the training transcripts, travels in the checkpoint, and every decoder, the recurrent LM, the
word LM and word timestamps work with it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from avseq.cli.main import main
from avseq.config import load_config
from avseq.data.synth.speech import CorpusSpec, synthesize
from avseq.decoding.ctc import CTCBeamSearch, ctc_greedy_texts
from avseq.models.checkpoint import load_checkpoint, load_speech_model
from avseq.text.tokenizer import SentencePieceTokenizer
from avseq.train import train

from .test_speech import check_report, tiny_lm_overrides, tiny_overrides
from .test_speech_decoding import TINY_JOINT, describe

pytestmark = pytest.mark.slow  # every test here trains models (module fixtures)


@pytest.fixture(scope="module")
def subword(tiny_corpus: CorpusSpec, tmp_path_factory) -> dict:
    runs = tmp_path_factory.mktemp("runs")
    joint = train(
        load_config(
            tiny_overrides(
                tiny_corpus,
                runs,
                *TINY_JOINT,
                "data.tokenizer.kind=sentencepiece",
                "data.tokenizer.vocab_size=60",
            )
        )
    )
    lm = train(
        load_config(
            tiny_lm_overrides(
                tiny_corpus, runs, f"data.tokenizer_checkpoint={joint['best_checkpoint']}"
            )
        )
    )
    return {"joint": joint, "lm": lm["best_checkpoint"]}


def test_the_checkpoint_holds_the_trained_pieces(subword: dict, tiny_corpus: CorpusSpec) -> None:
    ckpt = subword["joint"]["best_checkpoint"]
    _, tokenizer, meta = load_speech_model(ckpt)
    assert isinstance(tokenizer, SentencePieceTokenizer)
    assert meta["tokenizer"]["type"] == "sentencepiece"
    assert 29 < tokenizer.vocab_size <= 61  # more than the characters, at most the size asked
    assert meta["net"]["vocab_size"] == tokenizer.vocab_size
    assert any(len(u) > 2 for u in tokenizer.units)  # multi-character pieces were learned
    # every training transcript round-trips through the stored model
    lines = tiny_corpus.manifest("train").read_text().splitlines()
    for line in lines[:20]:
        text = json.loads(line)["text"]
        assert tokenizer.decode(tokenizer.encode(text)) == tokenizer.normalize(text)
    # the LM trained with the recognizer's units stores the same tokenizer
    assert load_checkpoint(subword["lm"], "speech_lm")["avseq"]["tokenizer"] == meta["tokenizer"]


@pytest.mark.parametrize(
    "decoding",
    [
        ["--decoder", "greedy"],
        ["--decoder", "ctc-beam", "--beam", "4"],
        ["--decoder", "ctc-beam", "--beam", "4", "--lm", "LM"],
        # a word bonus, so even this barely trained model writes words
        ["--decoder", "ctc-beam", "--beam", "4", "--lm", "ARPA", "--word-score", "5"],
        ["--decoder", "joint", "--beam", "3", "--lm", "LM"],
    ],
)
def test_evaluate_with_each_decoder(subword: dict, decoding: list[str], tmp_path: Path) -> None:
    run_dir = Path(subword["joint"]["run_dir"])
    arpa = run_dir / "words-3gram.arpa"  # the run's word LM, built from its transcripts
    subs = {"LM": subword["lm"], "ARPA": str(arpa)}
    decoding = [subs.get(a, a) for a in decoding]
    ckpt = subword["joint"]["best_checkpoint"]
    args = ["evaluate", "--checkpoint", ckpt, "--output-dir", str(tmp_path)]
    assert main([*args, *decoding]) == 0
    summary, rows = check_report(tmp_path)  # its counts are those of its predictions
    assert summary["decoding"] == describe(decoding)
    if str(arpa) in decoding:  # lexicon + word LM: only the LM's words come out
        words = {line.split("\t")[1] for line in _unigrams(arpa)}
        hypotheses = [r["hypothesis"].split() for r in rows]
        assert any(hypotheses) and all(set(h) <= words for h in hypotheses)


def test_ctc_beam_of_width_one_is_greedy_with_pieces(subword: dict) -> None:
    """On peaked random scores (the tiny model's own greedy output is empty), with the blank
    standing in for the word boundary the beam search needs."""
    _, tokenizer, _ = load_speech_model(subword["joint"]["best_checkpoint"])
    logits = 3 * torch.randn(
        4, 60, tokenizer.vocab_size, generator=torch.Generator().manual_seed(0)
    )
    lengths = torch.tensor([60, 45, 30, 10])
    greedy = [" ".join(t.split()) for t in ctc_greedy_texts(logits, lengths, tokenizer)]
    assert all(greedy) and CTCBeamSearch(tokenizer, beam=1)(logits, lengths) == greedy


def _unigrams(arpa: Path) -> list[str]:
    text = arpa.read_text()
    block = text.split("\\1-grams:\n")[1].split("\n\n")[0]
    return [line for line in block.splitlines() if line.strip()]


def test_transcribe_with_word_timestamps_and_attention_plot(subword: dict, tmp_path: Path) -> None:
    speech = synthesize("open the door please", "en-us", 160, 50, 16000).numpy()
    audio = tmp_path / "a.wav"
    sf.write(str(audio), np.concatenate([speech, np.zeros(4000), speech]), 16000)
    out = tmp_path / "out.jsonl"
    ckpt = subword["joint"]["best_checkpoint"]
    args = ["transcribe", "--checkpoint", ckpt, str(audio), "--timestamps", "--output", str(out)]
    assert main(args) == 0
    row = json.loads(out.read_text())
    words = row["words"]
    assert words is not None and [w["word"] for w in words] == row["text"].split()
    assert all(w["start"] <= w["end"] for w in words)
    plots = tmp_path / "plots"  # one attention row per piece
    args = ["transcribe", "--checkpoint", ckpt, str(audio), "--decoder", "joint", "--beam", "2"]
    assert main([*args, "--attention-plot", str(plots)]) == 0
    assert (plots / "a.png").is_file()


def test_a_given_model_file_is_used_as_it_is(tiny_corpus: CorpusSpec, tmp_path: Path) -> None:
    texts = [json.loads(x)["text"] for x in tiny_corpus.manifest("train").read_text().splitlines()]
    model = tmp_path / "units.model"
    model.write_bytes(SentencePieceTokenizer.train(texts, 40, "bpe").model)
    cfg = load_config(
        tiny_overrides(
            tiny_corpus,
            tmp_path / "runs",
            "data.tokenizer.kind=sentencepiece",
            f"data.tokenizer.model={model}",
            "trainer.limit_train_batches=1",
            "test=false",
            "callbacks.word_lm=null",
        )
    )
    result = train(cfg)
    state = torch.load(result["best_checkpoint"], map_location="cpu", weights_only=True)
    assert state["avseq"]["tokenizer"] == SentencePieceTokenizer.load(model).to_dict()
