"""Room impulse responses for reverberation augmentation, simulated once and cached.

Each response is a random shoebox room (pyroomacoustics' image-source method): sides of
2.5-12 m, a reverberation time drawn per room (its walls' absorption follows from it by
Sabine's formula), and a source and a microphone at random places inside. Simulating a room
costs far more than applying it, so a bank of them is written as WAV files on first use and
every training utterance is convolved with one of them (`audiomentations.ApplyImpulseResponse`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import soundfile as sf

from avseq.utils.io import write_text_atomic

log = logging.getLogger(__name__)
ROOMS_VERSION = 1  # part of the bank's folder name: bump when simulation changes its output


def _room_response(rng: np.random.Generator, sample_rate: int, rt60: tuple[float, float]):
    import pyroomacoustics as pra

    dims = np.array([rng.uniform(3.0, 12.0), rng.uniform(2.5, 9.0), rng.uniform(2.4, 4.0)])
    t60 = rng.uniform(*rt60)
    absorption, max_order = pra.inverse_sabine(t60, dims)
    room = pra.ShoeBox(
        dims,
        fs=sample_rate,
        materials=pra.Material(float(min(absorption, 0.99))),
        max_order=int(min(max_order, 20)),
        use_rand_ism=True,
        max_rand_disp=0.05,
    )
    inside = lambda: dims * rng.uniform(0.15, 0.85, size=3)  # noqa: E731
    room.add_source(inside())
    room.add_microphone(inside())
    room.compute_rir()
    response = np.asarray(room.rir[0][0], dtype=np.float32)
    return response / max(float(np.abs(response).max()), 1e-9)


def room_bank(folder: str | Path, count: int, sample_rate: int, seed: int = 0) -> list[Path]:
    """The WAV paths of `count` simulated room responses, simulated into `folder` the first time
    (a subfolder named after the settings, so other settings never reuse them).

    Args:
        folder: parent folder of the bank.
        count: number of rooms.
        sample_rate: rate of the responses (that of the audio they are applied to).
        seed: the rooms follow from it.
    """
    settings = {"count": count, "sample_rate": sample_rate, "seed": seed, "v": ROOMS_VERSION}
    digest = hashlib.sha1(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    bank = Path(folder) / f"rooms-{count}-{digest}"
    paths = [bank / f"room-{i:04d}.wav" for i in range(count)]
    marker = bank / "rooms.json"
    if marker.is_file():
        return paths
    bank.mkdir(parents=True, exist_ok=True)
    log.info("simulating %d room impulse responses -> %s", count, bank)
    rng = np.random.default_rng(seed)
    for path in paths:
        response = _room_response(rng, sample_rate, (0.15, 0.9))
        tmp = path.with_suffix(".tmp.wav")
        sf.write(str(tmp), response, sample_rate, subtype="FLOAT")
        tmp.replace(path)
    write_text_atomic(marker, json.dumps(settings) + "\n")
    return paths
