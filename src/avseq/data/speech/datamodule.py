"""Lightning data module for speech: manifests in, bucketed padded batches out."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from avseq.data.base import SplitDataModule, check_policy, report_bad_items
from avseq.data.check import check_manifest
from avseq.data.sampler import batch_loader
from avseq.data.speech.augment import WaveAugment
from avseq.data.speech.dataset import SpeechDataset, collate_speech
from avseq.data.speech.manifest import Utterance, read_manifest
from avseq.data.synth.speech import CorpusSpec, generate_corpus
from avseq.errors import AvseqError
from avseq.text.tokenizer import Tokenizer, build_tokenizer

log = logging.getLogger(__name__)


class SpeechDataModule(SplitDataModule):
    """Speech data from JSON-lines manifests, or the built-in corpus when `corpus` is set.

    Args:
        corpus: built-in corpus settings; generated in `prepare_data` when missing. Its
            manifests are used for any split whose manifest is not given.
        train_manifest, val_manifest, test_manifest: your own manifests.
        sample_rate: the model's rate.
        batch_size: utterances per training batch.
        eval_batch_size: utterances per validation/test batch.
        num_workers: DataLoader worker processes (they only decode, augment and pad).
        min_duration, max_duration: utterances outside this range (seconds) are left out.
        augment: training-time waveform augmentation, or None.
        on_bad_item: "skip" leaves out (and counts) bad manifest lines and unreadable audio as
            they are met; "check" decodes every file before training starts and stops with
            the list of problems (what `avseq check-data` does), so no bad file can end a run.
        sortagrad: visit the first epoch's batches from shortest to longest (SortaGrad).
        seed: bucketing shuffle seed.
        tokenizer: the output units: {"kind": "char"} (default) or {"kind": "sentencepiece",
            "vocab_size": 256, "model_type": "unigram" | "bpe", "model": null | FILE}
            (trained on the training transcripts when no model file is given; see
            `build_tokenizer`). The checkpoint stores it.
    """

    collate = staticmethod(collate_speech)  # items -> padded batch

    def __init__(
        self,
        corpus: CorpusSpec | None = None,
        train_manifest: str | None = None,
        val_manifest: str | None = None,
        test_manifest: str | None = None,
        sample_rate: int = 16000,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        num_workers: int = 1,
        min_duration: float = 0.1,
        max_duration: float = 30.0,
        augment: WaveAugment | None = None,
        on_bad_item: str = "skip",
        sortagrad: bool = True,
        seed: int = 0,
        tokenizer: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        check_policy(on_bad_item)
        self.corpus = corpus
        given = {"train": train_manifest, "val": val_manifest, "test": test_manifest}
        self.manifests: dict[str, Path | None] = {
            split: Path(path) if path else (corpus.manifest(split) if corpus else None)
            for split, path in given.items()
        }
        self.tokenizer_spec = dict(tokenizer or {})
        self._tokenizer: Tokenizer | None = None
        self.sample_rate = sample_rate
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.min_duration = min_duration
        self.max_duration = max_duration
        self.augment = augment
        self.on_bad_item = on_bad_item
        self.sortagrad = sortagrad
        self.seed = seed
        self.datasets: dict[str, SpeechDataset] = {}

    def prepare_data(self) -> None:
        if self.corpus is not None:
            generate_corpus(self.corpus)

    @property
    def tokenizer(self) -> Tokenizer:
        """The tokenizer (a SentencePiece model is trained here on first use)."""
        if self._tokenizer is None:
            self._tokenizer = build_tokenizer(self.tokenizer_spec, self._train_texts)
            if self.tokenizer_spec.get("kind", "char") != "char":
                log.info("tokenizer: %s", self._tokenizer.describe())
        return self._tokenizer

    def _train_texts(self) -> list[str]:
        from avseq.text.reading import read_texts

        path = self.manifests.get("train")
        if path is None:
            raise AvseqError("a SentencePiece tokenizer is trained on data.train_manifest: set it")
        self.prepare_data()  # the built-in corpus may not be generated yet
        return read_texts(path, None)[0]

    def has_split(self, split: str) -> bool:
        return self.manifests.get(split) is not None

    def task_inputs(self) -> dict[str, Any]:
        """What the task needs from the data: the tokenizer, and the default test manifest."""
        test = self.manifests.get("test")
        return {
            "tokenizer": self.tokenizer,
            "test_manifest": str(Path(test).resolve()) if test else None,
        }

    def read_split(self, path: Path) -> tuple[list[Utterance], list[str]]:
        """A manifest's good utterances and one message per bad line (or, with
        on_bad_item=check, per undecodable file): what the bad-item policy judges."""
        if self.on_bad_item == "check":
            return check_manifest(path, self.tokenizer, self.sample_rate)
        return read_manifest(path, self.tokenizer, on_error="skip")

    def load_split(self, split: str) -> list[Utterance]:
        """Reads a split's manifest, applying the bad-item policy and the duration filter."""
        path = self.manifests[split]
        if path is None:
            raise AvseqError(f"no {split} manifest: set data.{split}_manifest=PATH")
        utterances, problems = self.read_split(path)
        report_bad_items(path, problems, self.on_bad_item)
        kept = [u for u in utterances if self.min_duration <= u.duration <= self.max_duration]
        if len(kept) < len(utterances):
            log.info(
                "%s: left out %d utterance(s) outside %.1f-%.1f s",
                path,
                len(utterances) - len(kept),
                self.min_duration,
                self.max_duration,
            )
        if not kept:
            raise AvseqError(
                f"{path}: no usable utterances (check durations and transcripts "
                "with 'avseq check-data')"
            )
        return kept

    def setup(self, stage: str | None = None) -> None:
        splits = {"fit": ["train", "val"], "validate": ["val"], "test": ["test"]}.get(
            stage or "fit", ["train", "val"]
        )
        for split in splits:
            if split not in self.datasets:
                utterances = self.load_split(split)
                augment = self.augment if split == "train" else None
                if augment is not None:  # background speech: the other training utterances
                    augment.set_background([u.audio_filepath for u in utterances])
                self.datasets[split] = self.make_dataset(utterances, augment)

    def make_dataset(
        self, utterances: list[Utterance], augment: WaveAugment | None
    ) -> SpeechDataset:
        return SpeechDataset(
            utterances, self.tokenizer, self.sample_rate, augment=augment, skip_bad_audio=True
        )

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        dataset = self.datasets[split]
        return batch_loader(
            dataset,
            dataset.durations,
            batch_size,
            shuffle,
            self.seed,
            self.trainer,
            self.collate,
            self.num_workers,
            sortagrad=self.sortagrad,
        )
