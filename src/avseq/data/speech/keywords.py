"""Keyword data: speech manifests whose lines carry a class in a `label` field (what
`avseq prepare speechcommands` writes), read by the speech data module, batched with labels."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence

from avseq.data.check import check_manifest
from avseq.data.speech.augment import WaveAugment
from avseq.data.speech.datamodule import SpeechDataModule
from avseq.data.speech.dataset import SpeechDataset
from avseq.data.speech.manifest import Utterance, read_manifest
from avseq.errors import AvseqError

log = logging.getLogger(__name__)
LABEL = "label"
EXAMPLE = '{"audio_filepath": "yes/0a7c2a8d_nohash_0.wav", "label": "yes"}'


def keyword_label(utt: Utterance) -> str | None:
    """An utterance's class (its manifest line's `label`), or None when it has none."""
    label = utt.fields.get(LABEL)
    return None if label is None or str(label).strip() == "" else str(label).strip()


def check_labelled(path: str | Path, utterances: Sequence[Utterance]) -> None:
    """Raises when a manifest with entries has no `label` on any line (not a keyword one)."""
    if utterances and not any(keyword_label(u) is not None for u in utterances):
        raise AvseqError(
            f'{path}: no line has a "label" field; a keyword manifest gives each line its '
            f"class, e.g. {EXAMPLE} (avseq prepare speechcommands writes it)"
        )


def read_classes(path: str | Path) -> list[str]:
    """The sorted distinct labels of a (training) manifest."""
    utterances, _ = read_manifest(path, on_error="skip", require_text=False)
    check_labelled(path, utterances)
    classes = sorted({label for u in utterances if (label := keyword_label(u)) is not None})
    if len(classes) < 2:
        raise AvseqError(
            f"{path}: every labelled line has the label {classes[0]!r}; a keyword classifier "
            "needs at least two classes"
        )
    return classes


class KeywordDataset(SpeechDataset):
    """(waveform, class index) items; `labels` holds one index per utterance."""

    def __init__(
        self,
        utterances: Sequence[Utterance],
        labels: Sequence[int],
        sample_rate: int,
        augment: WaveAugment | None = None,
        skip_bad_audio: bool = True,
    ) -> None:
        super().__init__(utterances, None, sample_rate, augment, skip_bad_audio)
        self.labels = list(labels)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any] | None:
        loaded = self.load_wave(key)
        if loaded is None:
            return None
        utt, wave = loaded
        index = key[0] if isinstance(key, tuple) else key
        return {"wave": wave, "label": self.labels[index], "path": str(utt.audio_filepath)}


def collate_keywords(items: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Pads items into a batch; None items (skipped bad audio) are counted.

    Returns:
        waves (B, T) float32, wave_lengths (B,) int64, labels (B,) int64, paths, skipped
        (dropped items); only `skipped` when no item was usable.
    """
    good = [item for item in items if item is not None]
    batch: dict[str, Any] = {"skipped": len(items) - len(good)}
    if not good:
        return batch
    batch["waves"] = pad_sequence([g["wave"] for g in good], batch_first=True)
    batch["wave_lengths"] = torch.tensor([g["wave"].numel() for g in good], dtype=torch.long)
    batch["labels"] = torch.tensor([g["label"] for g in good], dtype=torch.long)
    batch["paths"] = [g["path"] for g in good]
    return batch


class KeywordDataModule(SpeechDataModule):
    """Keyword (command word) data from JSON-lines manifests with a `label` field; `text` is
    not needed. The classes are the training manifest's labels, sorted, unless given; lines
    without a label, or (validation, test) with a label outside the classes, are bad items
    of the `on_bad_item` policy.

    Args:
        train_manifest, val_manifest, test_manifest: the manifests.
        classes: the class names in index order (lines of other words are left out, e.g. to
            train 10 of Speech Commands' 35); None: the training manifest's labels.
        The rest as `SpeechDataModule`'s.
    """

    collate = staticmethod(collate_keywords)

    def __init__(
        self,
        train_manifest: str | None = None,
        val_manifest: str | None = None,
        test_manifest: str | None = None,
        classes: list[str] | None = None,
        sample_rate: int = 16000,
        batch_size: int = 64,
        eval_batch_size: int = 128,
        num_workers: int = 1,
        min_duration: float = 0.1,
        max_duration: float = 30.0,
        augment: WaveAugment | None = None,
        on_bad_item: str = "skip",
        sortagrad: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__(
            corpus=None,
            train_manifest=train_manifest,
            val_manifest=val_manifest,
            test_manifest=test_manifest,
            sample_rate=sample_rate,
            batch_size=batch_size,
            eval_batch_size=eval_batch_size,
            num_workers=num_workers,
            min_duration=min_duration,
            max_duration=max_duration,
            augment=augment,
            on_bad_item=on_bad_item,
            sortagrad=sortagrad,
            seed=seed,
        )
        self._classes = list(classes) if classes else None
        self.given_classes = bool(classes)

    @property
    def classes(self) -> list[str]:
        """The class names in index order (read from the training manifest on first use)."""
        if self._classes is None:
            train = self.manifests.get("train")
            if train is None:
                raise AvseqError("keyword classes come from data.train_manifest: set it")
            self._classes = read_classes(train)
            log.info("%d keyword classes from %s", len(self._classes), train)
        return self._classes

    def task_inputs(self) -> dict[str, Any]:
        """What the task needs from the data: the classes, and the default test manifest."""
        test = self.manifests.get("test")
        return {
            "classes": self.classes,
            "test_manifest": str(Path(test).resolve()) if test else None,
        }

    def read_split(self, path: Path) -> tuple[list[Utterance], list[str]]:
        if self.on_bad_item == "check":
            utterances, problems = check_manifest(path, None, self.sample_rate, False)
        else:
            utterances, problems = read_manifest(path, on_error="skip", require_text=False)
        check_labelled(path, utterances)
        known = set(self.classes)
        good: list[Utterance] = []
        other = 0  # lines of words data.classes leaves out
        for utt in utterances:
            label = keyword_label(utt)
            if label is None:
                problems.append(f'{utt.where}: no "label" field; add the class, e.g. {EXAMPLE}')
            elif label in known:
                good.append(utt)
            elif self.given_classes:
                other += 1
            else:
                problems.append(
                    f"{utt.where}: label {label!r} is not one of the {len(known)} classes of "
                    "the training manifest"
                )
        if other:
            log.info("%s: left out %d line(s) of words not in data.classes", path, other)
        return good, problems

    def make_dataset(
        self, utterances: list[Utterance], augment: WaveAugment | None
    ) -> KeywordDataset:
        index = {name: i for i, name in enumerate(self.classes)}
        labels = [index[keyword_label(u)] for u in utterances]
        return KeywordDataset(utterances, labels, self.sample_rate, augment, skip_bad_audio=True)
