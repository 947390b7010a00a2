"""Speech from flite (CMU's Festival-lite), the built-in corpus's second synthesizer.

Its voices differ from espeak-ng's formant synthesis: kal and kal16 are diphone voices, awb,
rms and slt statistical parametric (clustergen) voices built from recordings of real speakers.
Each utterance runs the `flite` command (a few milliseconds to start).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from avseq.errors import AvseqError

VOICES = ("kal", "kal16", "awb", "rms", "slt")
# (low, high) mean pitch in Hz drawn per utterance: each voice's own register, widened
PITCH_HZ = {
    "kal": (80.0, 140.0),
    "kal16": (80.0, 140.0),
    "awb": (85.0, 150.0),
    "rms": (80.0, 140.0),
    "slt": (150.0, 250.0),
}
INSTALL_HINT = "install flite ('make setup' as root, or 'sudo apt-get install flite')"


def available() -> bool:
    return shutil.which("flite") is not None


def speak(text: str, voice: str, stretch: float, pitch_hz: float) -> tuple[np.ndarray, int]:
    """Synthesises `text`; returns (float32 samples in [-1, 1], sample rate).

    Args:
        voice: one of `VOICES`.
        stretch: duration factor (> 1 speaks slower).
        pitch_hz: target mean pitch.
    """
    if voice not in VOICES:
        raise AvseqError(f"flite has no voice {voice!r}; choose from {', '.join(VOICES)}")
    if not available():
        raise AvseqError(f"flite is not installed; {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="avseq-flite-") as tmp:
        out = Path(tmp) / "out.wav"
        cmd = [
            "flite",
            "-voice",
            voice,
            "--setf",
            f"duration_stretch={stretch:.3f}",
            "--setf",
            f"int_f0_target_mean={pitch_hz:.1f}",
            "-t",
            text,
            "-o",
            str(out),
        ]
        try:
            subprocess.run(cmd, capture_output=True, check=True, timeout=60)
        except subprocess.CalledProcessError as err:
            message = err.stderr.decode(errors="replace").strip()
            raise AvseqError(f"flite failed for voice {voice!r}: {message}") from None
        data, sample_rate = sf.read(str(out), dtype="float32", always_2d=False)
    return data, sample_rate
