"""Speech dataset over manifest entries; workers only decode and pad, features live in the model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import Dataset

from avseq.data.speech.augment import WaveAugment
from avseq.data.speech.manifest import Utterance
from avseq.errors import BadAudioError
from avseq.media.audio import load_audio
from avseq.text.tokenizer import Tokenizer

log = logging.getLogger(__name__)


class SpeechDataset(Dataset):
    """Loads (waveform, token ids) pairs.

    Args:
        utterances: validated manifest entries.
        tokenizer: encodes transcripts (None: a subclass labels its items otherwise).
        sample_rate: the model's rate; files are resampled to it.
        augment: waveform augmentation (training only), or None.
        skip_bad_audio: return None for unusable audio (collate drops and counts it) instead of
            raising `BadAudioError`.
    """

    def __init__(
        self,
        utterances: Sequence[Utterance],
        tokenizer: Tokenizer | None,
        sample_rate: int,
        augment: WaveAugment | None = None,
        skip_bad_audio: bool = True,
    ) -> None:
        self.utterances = list(utterances)
        self.tokenizer = tokenizer
        self.sample_rate = sample_rate
        self.augment = augment
        self.skip_bad_audio = skip_bad_audio

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def durations(self) -> list[float]:
        return [u.duration for u in self.utterances]

    def load_wave(self, key: int | tuple[int, int]) -> tuple[Utterance, torch.Tensor] | None:
        """An item's utterance and (augmented) waveform by index, or by `(index, seed)`
        (`BucketBatchSampler(seeded=True)`): then its augmentation draws from a generator of
        that seed, so it is the same in a resumed run and in any worker, instead of from the
        worker's global generator. None for unusable audio with `skip_bad_audio`."""
        index, seed = key if isinstance(key, tuple) else (key, None)
        utt = self.utterances[index]
        try:
            wave = load_audio(utt.audio_filepath, self.sample_rate)
        except BadAudioError as err:
            if not self.skip_bad_audio:
                raise BadAudioError(f"{utt.where}: {err}") from None
            log.warning("skipping %s: %s", utt.where, err)
            return None
        if self.augment is not None:
            generator = torch.Generator().manual_seed(seed) if seed is not None else None
            wave = self.augment(wave, generator)
        return utt, wave

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any] | None:
        """An item (see `load_wave`) with its transcript's token ids."""
        loaded = self.load_wave(key)
        if loaded is None:
            return None
        utt, wave = loaded
        tokens = torch.tensor(self.tokenizer.encode(utt.text), dtype=torch.long)
        return {
            "wave": wave,
            "tokens": tokens,
            "text": self.tokenizer.normalize(utt.text),
            "path": str(utt.audio_filepath),
        }


def collate_speech(items: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Pads a list of items into a batch; None items (skipped bad audio) are counted.

    Returns:
        waves (B, T) float32, wave_lengths (B,) int64, tokens (B, L) int64 padded with 0,
        token_lengths (B,) int64, texts, paths, skipped (number of dropped items).
    """
    good = [item for item in items if item is not None]
    batch: dict[str, Any] = {"skipped": len(items) - len(good)}
    if not good:
        return batch
    batch["waves"] = pad_sequence([g["wave"] for g in good], batch_first=True)
    batch["wave_lengths"] = torch.tensor([g["wave"].numel() for g in good], dtype=torch.long)
    batch["tokens"] = pad_sequence([g["tokens"] for g in good], batch_first=True)
    batch["token_lengths"] = torch.tensor([g["tokens"].numel() for g in good], dtype=torch.long)
    batch["texts"] = [g["text"] for g in good]
    batch["paths"] = [g["path"] for g in good]
    return batch
