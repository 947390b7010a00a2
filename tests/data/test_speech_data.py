"""Data pipeline: audio loading, manifests, bad input, tokenizer, bucketing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from avseq.data.sampler import BucketBatchSampler
from avseq.data.speech.dataset import SpeechDataset, collate_speech
from avseq.data.speech.manifest import read_manifest
from avseq.errors import BadAudioError, ManifestError
from avseq.media.audio import iter_chunks, load_audio
from avseq.text.tokenizer import CharTokenizer

from ..conftest import write_manifest, write_tone


def test_load_audio_downmixes_and_resamples(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "stereo48k.wav", seconds=1.5, rate=48000, channels=2)
    wave = load_audio(path, 16000)
    assert wave.shape == (24000,) and wave.dtype == torch.float32
    assert 0.25 < wave.abs().max() < 0.35


@pytest.mark.parametrize("fmt", ["flac", "ogg", "mp3"])
def test_load_audio_compressed_formats(tmp_path: Path, fmt: str) -> None:
    t = np.arange(22050) / 22050
    path = tmp_path / f"a.{fmt}"
    sf.write(str(path), 0.3 * np.sin(2 * np.pi * 300 * t), 22050, format=fmt.upper())
    wave = load_audio(path, 16000)
    assert abs(wave.numel() - 16000) < 1200  # mp3 adds encoder padding


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 20)
    good = write_tone(tmp_path / "good.wav", seconds=2.0)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:60])
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(16000), 16000)
    nan = tmp_path / "nan.wav"
    sf.write(str(nan), np.full(16000, np.nan, dtype=np.float32), 16000, subtype="FLOAT")
    return {
        "missing": (tmp_path / "nope.wav", "no such audio file"),
        "empty": (empty, "empty"),
        "not audio": (text, "not a readable audio file"),
        "truncated": (truncated, ""),
        "silent": (silent, "silent"),
        "nan": (nan, "NaN"),
    }


def test_bad_audio_gets_one_line_error_naming_the_file(tmp_path: Path) -> None:
    for kind, (path, words) in _bad_files(tmp_path).items():
        with pytest.raises(BadAudioError) as info:
            load_audio(path, 16000)
        message = str(info.value)
        assert str(path) in message and "\n" not in message, kind
        assert words in message, (kind, message)


def test_manifest_bad_lines_are_named(tmp_path: Path) -> None:
    write_tone(tmp_path / "a.wav")
    lines = [
        json.dumps({"audio_filepath": "a.wav", "duration": 1.0, "text": "hello world"}),
        "{not json",
        json.dumps({"audio_filepath": "a.wav", "duration": 1.0}),
        json.dumps({"audio_filepath": "a.wav", "duration": 1.0, "text": "room 42"}),
        json.dumps({"audio_filepath": "a.wav", "duration": -3, "text": "hi"}),
        json.dumps({"audio_filepath": "a.wav", "text": "no duration is fine"}),
    ]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    tok = CharTokenizer()
    with pytest.raises(ManifestError, match=r"m\.jsonl:2: not valid JSON"):
        read_manifest(manifest, tok)
    utts, problems = read_manifest(manifest, tok, on_error="skip")
    assert [u.text for u in utts] == ["hello world", "no duration is fine"]
    assert utts[1].duration == pytest.approx(1.0)
    assert [p.split(": ")[0].rsplit(":", 1)[1] for p in problems] == ["2", "3", "4", "5"]
    assert "missing key" in problems[1] and "'text'" in problems[1]
    assert "outside the vocabulary" in problems[2] and "'2'" in problems[2]
    assert "duration" in problems[3]


def test_manifest_missing_file_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such manifest"):
        read_manifest(tmp_path / "none.jsonl")


def test_dataset_skips_and_counts_bad_audio(tmp_path: Path) -> None:
    bad = _bad_files(tmp_path)
    entries = [{"audio_filepath": str(p), "duration": 1.0, "text": "hi"} for p, _ in bad.values()]
    entries.append(
        {
            "audio_filepath": str(write_tone(tmp_path / "ok.wav")),
            "duration": 1.0,
            "text": "Hello  World",
        }
    )
    utts, _ = read_manifest(write_manifest(tmp_path / "m.jsonl", entries), CharTokenizer())
    ds = SpeechDataset(utts, CharTokenizer(), 16000, skip_bad_audio=True)
    batch = collate_speech([ds[i] for i in range(len(ds))])
    assert batch["skipped"] == len(bad)
    assert batch["texts"] == ["hello world"] and batch["waves"].shape == (1, 16000)
    strict = SpeechDataset(utts, CharTokenizer(), 16000, skip_bad_audio=False)
    with pytest.raises(BadAudioError, match=r"m\.jsonl:1"):
        strict[0]


def test_tokenizer_roundtrip_and_errors() -> None:
    tok = CharTokenizer()
    ids = tok.encode("Don’t  STOP")
    assert tok.decode(ids) == "don't stop" and tok.blank not in ids
    assert CharTokenizer.from_dict(tok.to_dict()).encode("abc") == tok.encode("abc")
    with pytest.raises(ValueError, match="outside the vocabulary"):
        tok.encode("café")


def test_bucket_sampler_groups_lengths_and_shards() -> None:
    rng = np.random.default_rng(0)
    durations = rng.uniform(1, 15, size=1000).tolist()
    sampler = BucketBatchSampler(durations, batch_size=16, seed=1)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = np.mean([np.ptp([durations[i] for i in b]) for b in batches])
    assert spread < 1.0  # random batches would spread over ~12 s
    sampler.set_epoch(1)
    assert list(sampler) != batches  # reshuffled between epochs
    ranks = [
        list(BucketBatchSampler(durations, 16, seed=1, num_replicas=3, rank=r)) for r in range(3)
    ]
    assert len({len(r) for r in ranks}) == 1 and len(ranks[0]) == len(
        BucketBatchSampler(durations, 16, num_replicas=3)
    )
    seen = [i for r in ranks for b in r for i in b]
    assert set(seen) == set(range(1000))  # every item on some rank
    assert len(seen) - len(set(seen)) < 2 * 16  # only the padding batches repeat
    one_batch = [
        list(BucketBatchSampler([1.0] * 5, 8, shuffle=False, num_replicas=2, rank=r))
        for r in range(2)
    ]
    assert one_batch[0] == one_batch[1] == [[0, 1, 2, 3, 4]]  # no rank is left without data


def test_iter_chunks_covers_file_with_bounded_chunks(tmp_path: Path) -> None:
    rate = 8000
    t = np.arange(rate * 65) / rate
    wave = 0.3 * np.sin(2 * np.pi * 200 * t) * (np.sin(2 * np.pi * 0.5 * t) > 0)  # 1 s gaps
    path = tmp_path / "long.wav"
    sf.write(str(path), wave, rate)
    chunks = list(iter_chunks(path, 16000, chunk_seconds=10.0))
    starts = [s for s, _ in chunks]
    assert all(c.numel() <= 10 * 16000 for _, c in chunks)
    assert sum(c.numel() for _, c in chunks) == pytest.approx(65 * 16000, abs=200)
    assert starts == sorted(starts) and starts[0] == 0
    for s in starts[1:]:  # cuts land in the silent half-periods
        assert np.sin(2 * np.pi * 0.5 * s) <= 0.1


def test_sortagrad_orders_only_the_first_epoch() -> None:
    rng = np.random.default_rng(1)
    durations = rng.uniform(1, 15, size=400).tolist()
    sampler = BucketBatchSampler(durations, batch_size=8, seed=0, sortagrad=True)
    longest = [max(durations[i] for i in b) for b in sampler]
    assert longest == sorted(longest)
    sampler.set_epoch(1)
    longest = [max(durations[i] for i in b) for b in sampler]
    assert longest != sorted(longest)


def test_lightning_reshuffles_batches_every_epoch() -> None:
    import lightning as L
    from torch.utils.data import DataLoader

    class Record(L.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(1, 1)
            self.seen: dict[int, list[int]] = {}

        def training_step(self, batch: torch.Tensor, idx: int) -> torch.Tensor:
            self.seen.setdefault(self.current_epoch, []).append(int(batch.max()))
            return self.layer(batch).sum()

        def configure_optimizers(self) -> torch.optim.Optimizer:
            return torch.optim.SGD(self.parameters(), 0.1)

    items = [torch.tensor([float(i)]) for i in range(64)]
    sampler = BucketBatchSampler(list(range(64)), 8, seed=0, sortagrad=True)
    model = Record()
    L.Trainer(
        max_epochs=3,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    ).fit(model, DataLoader(items, batch_sampler=sampler))
    assert model.seen[0] == sorted(model.seen[0])  # SortaGrad epoch
    assert model.seen[1] != model.seen[0] and model.seen[2] != model.seen[1]
