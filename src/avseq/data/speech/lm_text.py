"""Text for the language model: transcripts of speech manifests, or plain text files."""

from __future__ import annotations

import logging
import math
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from avseq.data.base import SplitDataModule
from avseq.data.sampler import batch_loader
from avseq.data.synth.speech import CorpusSpec, generate_corpus
from avseq.errors import AvseqError
from avseq.text.reading import read_texts
from avseq.text.tokenizer import CharTokenizer, Tokenizer

log = logging.getLogger(__name__)


def lm_batch(token_lists: list[list[int]], bos: int, eos: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token id lists -> inputs (B, L + 1) = bos + tokens and targets (B, L + 1) = tokens + eos,
    padded with 0."""
    longest = max(len(t) for t in token_lists) + 1
    inputs = torch.zeros(len(token_lists), longest, dtype=torch.long)
    targets = torch.zeros_like(inputs)
    for i, toks in enumerate(token_lists):
        inputs[i, : len(toks) + 1] = torch.tensor([bos, *toks])
        targets[i, : len(toks) + 1] = torch.tensor([*toks, eos])
    return inputs, targets


def read_sentences(path: str | Path, tokenizer: Tokenizer) -> tuple[list[list[int]], int]:
    """Token id lists of `read_texts(path, tokenizer)`; returns (sentences, lines left out)."""
    texts, bad = read_texts(path, tokenizer)
    return [tokenizer.encode(t) for t in texts], bad


def unigram_perplexity(train: list[list[int]], held_out: list[list[int]], eos: int) -> float:
    """Per-token perplexity of `held_out` under add-one unigram frequencies of `train`
    (end of sentence counted as a token): the baseline a language model must beat."""
    counts = Counter(t for s in train for t in [*s, eos])
    vocab = eos + 1
    total = sum(counts.values()) + vocab
    nll, n = 0.0, 0
    for s in held_out:
        for t in [*s, eos]:
            nll -= math.log((counts[t] + 1) / total)
            n += 1
    return math.exp(nll / max(n, 1))


class _Sentences(torch.utils.data.Dataset):
    def __init__(self, sentences: list[list[int]]) -> None:
        self.sentences = sentences

    def __len__(self) -> int:
        return len(self.sentences)

    def __getitem__(self, i: int) -> list[int]:
        return self.sentences[i]


class TextDataModule(SplitDataModule):
    """Sentences for `avseq train experiment=speech_lm`.

    Args:
        corpus: the built-in spoken corpus (its train/val transcripts), generated if missing.
        train_text, val_text: your own text files (one sentence per line) or manifests; they
            take the place of the corpus's.
        batch_size: sentences per batch.
        seed: shuffling seed.
        tokenizer: the LM's units (default: characters); the config reads them from
            `tokenizer_checkpoint`, a recognizer checkpoint (needed for a recognizer trained
            with SentencePiece units), which is only logged here.
    """

    def __init__(
        self,
        corpus: CorpusSpec | None = None,
        train_text: str | None = None,
        val_text: str | None = None,
        batch_size: int = 64,
        seed: int = 0,
        tokenizer: Tokenizer | None = None,
        tokenizer_checkpoint: str | None = None,
    ) -> None:
        super().__init__()
        self.corpus = corpus
        given = {"train": train_text, "val": val_text}
        self.sources: dict[str, Path | None] = {
            split: Path(path) if path else (corpus.manifest(split) if corpus else None)
            for split, path in given.items()
        }
        self.tokenizer: Tokenizer = tokenizer or CharTokenizer()
        if tokenizer_checkpoint:
            log.info("language-model units: those of %s", tokenizer_checkpoint)
        self.batch_size = batch_size
        self.eval_batch_size = batch_size
        self.seed = seed
        self.sentences: dict[str, list[list[int]]] = {}

    def prepare_data(self) -> None:
        if self.corpus is not None and any(
            self.sources[s] == self.corpus.manifest(s) for s in ("train", "val")
        ):
            generate_corpus(self.corpus)

    def has_split(self, split: str) -> bool:
        return self.sources.get(split) is not None

    def task_inputs(self) -> dict[str, Any]:
        return {"tokenizer": self.tokenizer}

    def setup(self, stage: str | None = None) -> None:
        for split in ("train", "val"):
            if split in self.sentences:
                continue
            source = self.sources[split]
            if source is None:
                raise AvseqError(f"no {split} text: set data.{split}_text=PATH")
            self.sentences[split], _ = read_sentences(source, self.tokenizer)
        eos = self.tokenizer.vocab_size + 1
        self.unigram_ppl = unigram_perplexity(self.sentences["train"], self.sentences["val"], eos)
        log.info("held-out unigram perplexity (the baseline): %.3f", self.unigram_ppl)

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        v = self.tokenizer.vocab_size

        def collate(items: list[list[int]]) -> dict[str, torch.Tensor]:
            inputs, targets = lm_batch(items, v, v + 1)
            return {"inputs": inputs, "targets": targets}

        sentences = self.sentences[split]
        lengths = [float(len(s)) for s in sentences]  # batches of similar lengths pad little
        return batch_loader(
            _Sentences(sentences),
            lengths,
            batch_size,
            shuffle,
            self.seed,
            self.trainer,
            collate,
            seeded=False,  # sentences have no random draws
        )
