"""Long files are streamed in chunks cut in real pauses: a chunk boundary never falls inside a
sound, a chunk ends at the first pause between phrases (so chunks are like the utterances a
recognizer was trained on), chunks are at most `chunk_seconds` long and put together give back
the whole file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from avseq.media.audio import iter_chunks, pause_cut


def bursts_and_pauses(
    rate: int, seed: int = 0, words: tuple[int, int] = (2, 9)
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """~60 s of "phrases" of `words` tone bursts 0.1-0.5 s long with 40-90 ms gaps inside a
    phrase (the gaps between words) and 0.3-0.9 s pauses between phrases, over a faint noise
    floor. Returns the waveform and the (start, end) seconds of each pause between phrases."""
    rng = np.random.default_rng(seed)
    parts, pauses, t = [], [], 0.0
    while t < 60:
        for _ in range(rng.integers(*words)):  # one phrase
            n = int(rng.uniform(0.1, 0.5) * rate)
            freq = rng.uniform(150, 900)
            parts.append(0.3 * np.sin(2 * np.pi * freq * np.arange(n) / rate))
            parts.append(np.zeros(int(rng.uniform(0.04, 0.09) * rate)))
            t += (len(parts[-2]) + len(parts[-1])) / rate
        n = int(rng.uniform(0.3, 0.9) * rate)
        parts.append(np.zeros(n))
        pauses.append((t - len(parts[-2]) / rate, t + n / rate))  # the word gap joins it
        t += n / rate
    wave = np.concatenate(parts)
    wave += 1e-4 * rng.standard_normal(wave.size)
    return wave.astype(np.float32), pauses


@pytest.mark.parametrize("rate", [16000, 44100])
def test_chunks_are_cut_in_pauses_and_give_back_the_file(rate: int, tmp_path: Path) -> None:
    wave, pauses = bursts_and_pauses(rate)
    path = tmp_path / "long.wav"
    sf.write(str(path), wave, rate, subtype="FLOAT")
    chunks = list(iter_chunks(path, rate, chunk_seconds=8.0))
    starts = [start for start, _ in chunks]
    lengths = [w.numel() / rate for _, w in chunks]
    assert max(lengths) <= 8.0
    assert starts == pytest.approx(np.cumsum([0.0, *lengths[:-1]]).tolist(), abs=1e-9)
    torch.testing.assert_close(torch.cat([w for _, w in chunks]), torch.from_numpy(wave))
    # one chunk per phrase: each cut well inside the pause after it (the file ends in one)
    assert len(chunks) == len(pauses)
    for cut, (a, b) in zip(starts[1:], pauses, strict=False):
        assert a + 0.1 < cut < b - 0.1, (cut, a, b)


def test_phrases_longer_than_a_chunk_are_cut_between_words(tmp_path: Path) -> None:
    wave, _ = bursts_and_pauses(16000, seed=2, words=(30, 40))  # ~10 s phrases
    path = tmp_path / "long.wav"
    sf.write(str(path), wave, 16000, subtype="FLOAT")
    chunks = list(iter_chunks(path, 16000, chunk_seconds=4.0))
    lengths = [w.numel() / 16000 for _, w in chunks]
    assert max(lengths) <= 4.0 and min(lengths[:-1]) >= 0.5
    for start, _ in chunks[1:]:  # in a gap: silence where the chunks meet
        i = int(start * 16000)
        assert np.abs(wave[i - 160 : i + 160]).max() < 1e-3, start


def test_chunks_are_resampled_to_the_model_rate_with_file_times(tmp_path: Path) -> None:
    wave, pauses = bursts_and_pauses(48000, seed=1)
    path = tmp_path / "long48k.flac"
    sf.write(str(path), wave, 48000)
    chunks = list(iter_chunks(path, 16000, chunk_seconds=10.0))
    assert sum(w.numel() for _, w in chunks) == pytest.approx(wave.size / 3, abs=len(chunks))
    for start, _ in chunks[1:]:
        assert any(a < start < b for a, b in pauses), start


def test_without_pauses_the_cut_falls_at_the_quietest_moment() -> None:
    rate = 16000
    rng = np.random.default_rng(0)
    noise = (0.1 * rng.standard_normal(10 * rate)).astype(np.float32)
    noise[int(7.3 * rate) : int(7.35 * rate)] *= 0.5  # too shallow a dip to count as a pause
    noise[int(2.0 * rate) : int(2.05 * rate)] *= 0.1  # quieter, but before the chunk's minimum
    cut = pause_cut(noise, rate, lo=5 * rate)
    assert 7.3 * rate <= cut <= 7.35 * rate


def test_a_chunk_ends_at_the_first_real_pause_else_the_longest() -> None:
    rate = 16000
    wave = np.full(10 * rate, 0.2, dtype=np.float32) * np.sin(np.arange(10 * rate) * 0.05)
    wave[int(1.0 * rate) : int(1.1 * rate)] = 0  # a gap between words
    wave[int(3.0 * rate) : int(3.4 * rate)] = 0  # the first real pause
    wave[int(5.5 * rate) : int(6.3 * rate)] = 0  # the longest
    wave[int(9.0 * rate) : int(9.2 * rate)] = 0
    assert pause_cut(wave, rate, lo=5 * rate, pause=int(0.15 * rate)) == 3.2 * rate
    assert pause_cut(wave, rate, lo=5 * rate) == pytest.approx(5.9 * rate, abs=0.01 * rate)
