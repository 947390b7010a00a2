"""Are the language model's samples made of real words? The share of the words of `avseq
generate` samples that are among the training transcripts' words (and in the built-in word
list, `resources/vocab.txt`), against a unigram sampler that draws characters (and the end of the
sentence) independently with their training frequencies.

    python -m avseq.bench.generation --checkpoint LM.ckpt [--train-text TRAIN.jsonl]
        [--num 500] [--seed 0] [--temperatures 1.0 0.7] [--output BENCH.md]

The training text defaults to the transcripts the checkpoint's run trained on (its
config.yaml: `data.train_text`, else the built-in corpus's training manifest).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import torch
from omegaconf import OmegaConf

from avseq.data.synth.sentence_vocab import load_words
from avseq.data.synth.speech import CorpusSpec
from avseq.errors import AvseqError
from avseq.inference.generate import SamplingOptions, TextGenerator
from avseq.text.reading import read_texts
from avseq.utils.io import write_text_atomic


def run_train_text(checkpoint: Path) -> Path:
    """The training text of the run that wrote `checkpoint` (RUN/checkpoints/X.ckpt)."""
    config = checkpoint.resolve().parents[1] / "config.yaml"
    if not config.is_file():
        raise AvseqError(f"{config}: not found; pass --train-text")
    data = OmegaConf.load(config).data
    if data.get("train_text"):
        return Path(data.train_text)
    corpus = OmegaConf.to_container(data.corpus)
    corpus.pop("_target_", None)
    return CorpusSpec(**corpus).manifest("train")


def unigram_samples(texts: list[str], num: int, seed: int, max_chars: int) -> list[str]:
    """Sentences of characters drawn independently with their frequencies in `texts`, ended
    by "end of sentence" drawn with its frequency (one per sentence)."""
    counts = Counter("".join(texts))
    units = [*counts, None]  # None: the end of the sentence
    probs = torch.tensor([*counts.values(), len(texts)], dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(num):
        chars: list[str] = []
        while len(chars) < max_chars:
            unit = units[int(torch.multinomial(probs, 1, generator=g))]
            if unit is None:
                break
            chars.append(unit)
        out.append("".join(chars).strip())
    return out


def word_shares(samples: list[str], vocab: set[str], train_words: set[str]) -> dict[str, float]:
    words = [w for s in samples for w in s.split()]
    n = max(len(words), 1)
    return {
        "words": len(words),
        "in_train": sum(w in train_words for w in words) / n,
        "in_vocab": sum(w in vocab for w in words) / n,
        "in_either": sum(w in vocab or w in train_words for w in words) / n,
        "words_per_sample": len(words) / max(len(samples), 1),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--train-text", type=Path)
    parser.add_argument("--num", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-chars", type=int, default=200)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.7])
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)

    generator = TextGenerator.from_checkpoint(args.checkpoint)
    texts, _ = read_texts(args.train_text or run_train_text(args.checkpoint), None)
    vocab, train_words = set(load_words()), {w for t in texts for w in t.split()}
    train_set = set(texts)
    rows = []
    for temperature in args.temperatures:
        start = time.perf_counter()
        options = SamplingOptions(temperature=temperature, max_chars=args.max_chars)
        samples = generator.generate(num=args.num, seed=args.seed, options=options)
        seconds = time.perf_counter() - start
        copies = sum(s in train_set for s in samples) / len(samples)
        rows.append(
            (
                f"LSTM LM, temperature {temperature:g}",
                word_shares(samples, vocab, train_words),
                copies,
                seconds,
                samples[:3],
            )
        )
    samples = unigram_samples(texts, args.num, args.seed, args.max_chars)
    copies = sum(s in train_set for s in samples) / len(samples)
    rows.append(
        ("unigram characters", word_shares(samples, vocab, train_words), copies, 0.0, samples[:3])
    )

    header = ["sampler", "words in the training text", "in vocab.txt", "in either"]
    header += ["words per sample"]
    header += ["samples that copy a training sentence", "seconds"]
    lines = [
        f"{args.num} samples each, seed {args.seed}; training text: {len(texts)} sentences, "
        f"{len(train_words)} distinct words; vocab.txt: the built-in word list, {len(vocab)} "
        "words (number words and a few template words are not in it)",
        "",
        "| " + " | ".join(header) + " |",
        "|---" * len(header) + "|",
    ]
    for name, shares, copies, seconds, _ in rows:
        lines.append(
            f"| {name} | {100 * shares['in_train']:.1f}% | {100 * shares['in_vocab']:.1f}% | "
            f"{100 * shares['in_either']:.1f}% | {shares['words_per_sample']:.1f} | "
            f"{100 * copies:.1f}% | {seconds:.1f} |"
        )
    lines += ["", "First samples:", ""]
    lines += [f"- {name}: " + " / ".join(f"`{s}`" for s in first) for name, *_, first in rows]
    report = "\n".join(lines) + "\n"
    print(report)
    if args.output:
        write_text_atomic(args.output, report)


if __name__ == "__main__":
    main()
