"""`avseq generate`: samples from the language model are reproducible for a seed and differ
between seeds; temperature 0 (or near it) and top-k 1 are greedy decoding; the prompt starts
every sample and conditions it; bad values are one-line errors."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from avseq.cli.main import main
from avseq.data.speech.lm_text import lm_batch
from avseq.errors import AvseqError
from avseq.inference.generate import SamplingOptions, TextGenerator
from avseq.models.checkpoint import write_record
from avseq.models.components.lm import RNNLanguageModel
from avseq.models.components.specs import net_spec
from avseq.text.tokenizer import CharTokenizer, SentencePieceTokenizer, Tokenizer

TOK = CharTokenizer()
SENTENCES = ["the cat sat down", "a dog ran off"]


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny LSTMs: on a busy machine, more threads only wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def trained_lm(path: Path, tokenizer: Tokenizer, sentences: list[str]) -> Path:
    """A tiny LSTM LM that has learned `sentences`, saved with the record training writes."""
    factory = partial(RNNLanguageModel, embed_size=16, hidden_size=32, num_layers=1, dropout=0.0)
    torch.manual_seed(0)
    net = factory(vocab_size=tokenizer.vocab_size)
    inputs, targets = lm_batch([tokenizer.encode(s) for s in sentences], net.bos, net.eos)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.03)
    for _ in range(100):
        optimizer.zero_grad()
        F.cross_entropy(net(inputs).flatten(0, 1), targets.flatten(), ignore_index=0).backward()
        optimizer.step()
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    checkpoint: dict[str, Any] = {"state_dict": state}
    spec = net_spec(factory, vocab_size=tokenizer.vocab_size)
    write_record(checkpoint, "speech_lm", spec, tokenizer=tokenizer.to_dict())
    torch.save(checkpoint, path)
    return path


@pytest.fixture(scope="module")
def lm_checkpoint(tmp_path_factory) -> Path:
    return trained_lm(tmp_path_factory.mktemp("lm") / "lm.ckpt", TOK, SENTENCES)


def greedy(gen: TextGenerator, prompt: str, max_chars: int = 40) -> str:
    """Argmax decoding written out: feed bos and the prompt, then the most likely unit (never
    the blank or bos) until end of sentence."""
    v = TOK.vocab_size
    model, state = gen.model, gen.model.start(1)
    ids = [v, *TOK.encode(prompt)]
    with torch.no_grad():
        for t in ids:
            logp, state = model.step(torch.tensor([t]), state)
        out: list[int] = []
        while len(out) < max_chars:
            logp[:, [0, v]] = -float("inf")
            unit = int(logp.argmax(-1))
            if unit == v + 1:
                break
            out.append(unit)
            logp, state = model.step(torch.tensor([unit]), state)
    return TOK.decode(ids[1:] + out)


def test_the_same_seed_gives_the_same_samples(lm_checkpoint: Path) -> None:
    gen = TextGenerator.from_checkpoint(lm_checkpoint)
    hot = SamplingOptions(temperature=3.0, max_chars=30)
    five = gen.generate(num=5, seed=3, options=hot)
    assert gen.generate(num=5, seed=3, options=hot) == five
    assert gen.generate(num=2, seed=3, options=hot) == five[:2]  # a sample is its own
    other = gen.generate(num=5, seed=4, options=hot)
    assert other != five and len(set(five)) > 1
    assert all(0 < len(s) <= 30 for s in five + other)


def test_cold_sampling_and_top_1_are_greedy(lm_checkpoint: Path) -> None:
    gen = TextGenerator.from_checkpoint(lm_checkpoint)
    expected = greedy(gen, "")
    assert expected in SENTENCES  # it has learned them
    for options in (SamplingOptions(temperature=1e-4), SamplingOptions(top_k=1)):
        assert gen.generate(num=3, seed=7, options=options) == [expected] * 3
    assert gen.generate(options=SamplingOptions(temperature=0)) == [expected]


def test_the_prompt_starts_and_conditions_every_sample(lm_checkpoint: Path) -> None:
    gen = TextGenerator.from_checkpoint(lm_checkpoint)
    for prompt, sentence in (("The C", "the cat sat down"), ("a d", "a dog ran off")):
        got = gen.generate(prompt, num=2, options=SamplingOptions(temperature=0))
        assert got == [greedy(gen, prompt)] * 2 and got[0] == sentence
    warm = gen.generate("a dog ", num=4, seed=1, options=SamplingOptions(temperature=0.5))
    assert all(s.startswith("a dog ") for s in warm)
    assert gen.generate("xyz", options=SamplingOptions(max_chars=5))[0][:3] == "xyz"
    assert len(gen.generate("xyz", options=SamplingOptions(max_chars=5))[0]) <= 8


def test_cli_prints_one_line_per_sample(lm_checkpoint: Path, capsys) -> None:
    argv = ["generate", "--checkpoint", str(lm_checkpoint), "--num", "3", "--prompt", "a d"]
    assert main([*argv, "--temperature", "0"]) == 0
    assert capsys.readouterr().out == "a dog ran off\n" * 3
    assert main([*argv, "--seed", "5", "--top-k", "3"]) == 0
    first = capsys.readouterr().out
    assert main([*argv, "--seed", "5", "--top-k", "3"]) == 0
    assert capsys.readouterr().out == first and len(first.splitlines()) == 3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--temperature", "-1"], "--temperature: must be a finite number >= 0"),
        (["--temperature", "nan"], "--temperature: must be a finite number >= 0"),
        (["--top-k", "-2"], "--top-k: must be at least 0"),
        (["--num", "0"], "--num: must be at least 1"),
        (["--max-chars", "0"], "--max-chars: must be at least 1"),
        (["--prompt", "café!"], "prompt 'café!': transcript has characters outside"),
    ],
)
def test_bad_values_are_one_line_errors(
    lm_checkpoint: Path, capsys, extra: list[str], message: str
) -> None:
    assert main(["generate", "--checkpoint", str(lm_checkpoint), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_a_checkpoint_that_is_no_language_model_is_refused(tmp_path: Path, capsys) -> None:
    assert main(["generate", "--checkpoint", str(tmp_path / "none.ckpt")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(AvseqError, match="temperature -1"):
        SamplingOptions(temperature=-1)


def test_a_subword_language_model_generates_whole_pieces(tmp_path: Path) -> None:
    sentences = ["open the door please", "turn off the light", "close the window now"]
    pieces = SentencePieceTokenizer.train(sentences * 20, vocab_size=30)
    gen = TextGenerator.from_checkpoint(trained_lm(tmp_path / "sp.ckpt", pieces, sentences))
    greedy_options = SamplingOptions(temperature=0)
    assert gen.generate("turn off", options=greedy_options) == ["turn off the light"]
    assert gen.generate("close the ", options=greedy_options) == ["close the window now"]
    hot = SamplingOptions(temperature=2.0, max_chars=12)
    samples = gen.generate("open", num=4, seed=2, options=hot)
    assert samples == gen.generate("open", num=4, seed=2, options=hot)
    assert all(s.startswith("open") and len(s) <= len("open") + 12 for s in samples)
