"""In-process espeak-ng synthesis through its C library (no process start per utterance).

Falls back to the `espeak-ng` command when libespeak-ng cannot be loaded.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import shutil
import subprocess
from functools import cache

import numpy as np
import soundfile as sf

from avseq.errors import AvseqError

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_RATE, _PITCH = 1, 3
_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)
INSTALL_HINT = "install espeak-ng ('make setup' as root, or 'sudo apt-get install espeak-ng')"


class _Library:
    """One initialised libespeak-ng per process; collects samples through a callback."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        self.rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, None, 0)
        if self.rate <= 0:
            raise OSError("espeak_Initialize failed")
        self.chunks: list[np.ndarray] = []
        self._callback = _CALLBACK(self._collect)  # keep a reference: C holds the pointer
        lib.espeak_SetSynthCallback(self._callback)
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]

    def _collect(self, wav, numsamples: int, events) -> int:
        if wav and numsamples > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        return 0

    def speak(self, text: str, voice: str, rate: int, pitch: int) -> np.ndarray:
        if self.lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise AvseqError(
                f"espeak-ng has no voice {voice!r}; list voices with 'espeak-ng --voices=en'"
            )
        self.lib.espeak_SetParameter(_RATE, rate, 0)
        self.lib.espeak_SetParameter(_PITCH, pitch, 0)
        self.chunks = []
        data = text.encode() + b"\0"
        if self.lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None):
            raise AvseqError(f"espeak-ng failed to synthesise {text!r} with voice {voice!r}")
        samples = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        return samples.astype(np.float32) / 32768.0


@cache
def _library() -> _Library | None:
    name = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
    try:
        return _Library(ctypes.CDLL(name))
    except OSError:
        return None


def speak(text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, int]:
    """Synthesises `text`; returns (float32 samples in [-1, 1], sample rate)."""
    lib = _library()
    if lib is not None:
        return lib.speak(text, voice, rate, pitch), lib.rate
    return _speak_command(text, voice, rate, pitch)


def _speak_command(text: str, voice: str, rate: int, pitch: int) -> tuple[np.ndarray, int]:
    if shutil.which("espeak-ng") is None:
        raise AvseqError(f"espeak-ng is not installed; {INSTALL_HINT}")
    try:
        out = subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(rate), "-p", str(pitch), "--stdout", text],
            capture_output=True,
            check=True,
            timeout=60,
        )
    except subprocess.CalledProcessError as err:
        raise AvseqError(
            f"espeak-ng failed for voice {voice!r}: {err.stderr.decode(errors='replace').strip()}"
        ) from None
    data, sample_rate = sf.read(io.BytesIO(out.stdout), dtype="float32")
    return data, sample_rate


def available() -> bool:
    return _library() is not None or shutil.which("espeak-ng") is not None
