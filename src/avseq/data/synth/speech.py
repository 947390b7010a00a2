"""The built-in spoken corpus: English utterances synthesised with espeak-ng, no downloads.

Voices are (accent, variant) pairs; train, validation and test use disjoint sets of pairs,
and validation/test sentences never occur in training, so test WER measures generalisation
to unseen speakers and sentences rather than memorisation. Speaking rate and pitch are drawn
per utterance. Noise and gain augmentation happen at load time (see `WaveAugment`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import soundfile as sf
import torch
from rich.progress import Progress

from avseq.data.speech.manifest import write_manifest
from avseq.data.synth import espeak
from avseq.data.synth.sentences import SentenceGenerator
from avseq.errors import AvseqError
from avseq.media.audio import to_mono_resampled

log = logging.getLogger(__name__)

# "en" is espeak-ng's British English voice (named en-gb on its command line)
ACCENTS = (
    "en-us",
    "en",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
VARIANTS = (
    "",
    "m1",
    "m2",
    "m3",
    "m4",
    "m5",
    "m6",
    "m7",
    "f1",
    "f2",
    "f3",
    "f4",
    "f5",
    "adam",
    "alicia",
    "andy",
    "annie",
    "aunty",
    "belinda",
    "benjamin",
    "caleb",
    "david",
    "ed",
    "edward",
    "grandma",
    "grandpa",
    "john",
    "linda",
    "max",
    "michael",
    "mike",
    "paul",
    "quincy",
    "rob",
    "robert",
    "steph",
    "travis",
    "victor",
    "zac",
    "Andrea",
    "Denis",
    "Hugo",
    "Lee",
    "Marco",
    "Alex",
    "shelby",
    "norbert",
)
SPLITS = ("train", "val", "test")
GENERATOR_VERSION = 2  # part of the corpus hash: bump when generation changes its output


@dataclass
class CorpusSpec:
    """Settings of the built-in corpus; the output folder is named after a hash of them.

    Args:
        root: parent folder; the corpus goes to `root/<name>-<hash>/`.
        train_hours, val_hours, test_hours: audio per split.
        seed: all random choices derive from it (same seed, same corpus).
        workers: parallel espeak-ng processes.
        sample_rate: output WAV rate.
        rate_wpm: (low, high) speaking rate in words per minute.
        pitch: (low, high) espeak-ng pitch, 0-99.
        val_voices, test_voices: fraction of (accent, variant) voices held out for each split.
    """

    root: str = "data/speech_synth"
    train_hours: float = 10.0
    val_hours: float = 0.2
    test_hours: float = 0.5
    seed: int = 0
    workers: int = 2
    sample_rate: int = 16000
    rate_wpm: tuple[int, int] = (110, 180)
    pitch: tuple[int, int] = (25, 75)
    val_voices: float = 0.08
    test_voices: float = 0.12
    accents: tuple[str, ...] = field(default=ACCENTS)
    variants: tuple[str, ...] = field(default=VARIANTS)

    def settings(self) -> dict:
        d = asdict(self)
        d.pop("root")
        d.pop("workers")
        d["generator"] = GENERATOR_VERSION
        return json.loads(json.dumps(d))  # tuples -> lists, as stored in corpus.json

    @property
    def path(self) -> Path:
        digest = hashlib.sha1(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()
        return Path(self.root) / f"{self.train_hours:g}h-seed{self.seed}-{digest[:8]}"

    def manifest(self, split: str) -> Path:
        return self.path / f"{split}.jsonl"


def split_voices(spec: CorpusSpec) -> dict[str, list[str]]:
    """Disjoint voice lists per split, e.g. {"train": ["en-us+m3", ...], ...}."""
    voices = [f"{a}+{v}" if v else a for a in spec.accents for v in spec.variants]
    random.Random(spec.seed).shuffle(voices)
    n_test = max(1, round(len(voices) * spec.test_voices))
    n_val = max(1, round(len(voices) * spec.val_voices))
    return {
        "test": voices[:n_test],
        "val": voices[n_test : n_test + n_val],
        "train": voices[n_test + n_val :],
    }


def plan_jobs(spec: CorpusSpec) -> dict[str, list[dict]]:
    """Chooses text, voice, rate and pitch of every utterance (cheap, deterministic)."""
    voices = split_voices(spec)
    hours = {"train": spec.train_hours, "val": spec.val_hours, "test": spec.test_hours}
    sentences = SentenceGenerator()
    held_out: set[str] = set()
    jobs: dict[str, list[dict]] = {}
    for split in ("test", "val", "train"):  # held-out texts first, so training can avoid them
        rng = random.Random(f"{spec.seed}-{split}")
        budget, planned, split_jobs = hours[split] * 3600, 0.0, []
        while planned < budget:
            text = sentences.sample(rng)
            if text in held_out:
                continue
            if split != "train":
                held_out.add(text)
            rate = rng.randint(*spec.rate_wpm)
            job = {
                "id": f"{split}-{len(split_jobs):06d}",
                "text": text,
                "voice": rng.choice(voices[split]),
                "rate": rate,
                "pitch": rng.randint(*spec.pitch),
                "pad": (round(rng.uniform(0.02, 0.3), 3), round(rng.uniform(0.02, 0.3), 3)),
            }
            # espeak-ng speaks ~15% faster than its nominal words per minute (measured here);
            # the manifest records the real durations
            planned += sum(job["pad"]) + 0.85 * len(text.split()) * 60 / rate
            split_jobs.append(job)
        jobs[split] = split_jobs
    return jobs


def synthesize(
    text: str,
    voice: str,
    rate: int,
    pitch: int,
    sample_rate: int,
    pad: tuple[float, float] = (0.0, 0.0),
) -> torch.Tensor:
    """Speaks `text` with espeak-ng; returns a (T,) float32 waveform at `sample_rate`.

    Args:
        pad: seconds of silence added before and after the speech.
    """
    data, rate_in = espeak.speak(text, voice, rate, pitch)
    wave = to_mono_resampled(data, rate_in, sample_rate)
    before, after = (int(p * sample_rate) for p in pad)
    return torch.nn.functional.pad(wave, (before, after))


def _render(job: dict, out_dir: str, sample_rate: int) -> dict:
    torch.set_num_threads(1)
    wave = synthesize(job["text"], job["voice"], job["rate"], job["pitch"], sample_rate, job["pad"])
    path = Path(out_dir) / f"{job['id']}.wav"
    tmp = path.with_suffix(".tmp.wav")
    sf.write(str(tmp), wave.numpy(), sample_rate, subtype="PCM_16")
    tmp.replace(path)
    return {
        "audio_filepath": f"wav/{path.name}",
        "duration": round(wave.numel() / sample_rate, 3),
        "text": job["text"],
        "voice": job["voice"],
    }


def _render_star(args: tuple) -> dict:
    return _render(*args)


def generate_corpus(spec: CorpusSpec, force: bool = False) -> Path:
    """Generates the corpus unless one with the same settings exists; returns its folder."""
    out = spec.path
    marker = out / "corpus.json"
    if marker.is_file() and not force:
        log.info("built-in speech corpus already present: %s", out)
        return out
    if not espeak.available():
        raise AvseqError(f"espeak-ng is not installed; {espeak.INSTALL_HINT}")
    jobs = plan_jobs(spec)
    wav_dir = out / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    total = sum(len(j) for j in jobs.values())
    ctx = get_context("fork")
    with Progress() as progress, ctx.Pool(max(1, spec.workers)) as pool:
        task = progress.add_task(f"synthesising {total} utterances -> {out}", total=total)
        stats = {}
        for split in SPLITS:
            args = [(job, str(wav_dir), spec.sample_rate) for job in jobs[split]]
            entries = []
            for entry in pool.imap(_render_star, args, chunksize=16):
                entries.append(entry)
                progress.advance(task)
            write_manifest(spec.manifest(split), entries)
            stats[split] = {
                "utterances": len(entries),
                "hours": round(sum(e["duration"] for e in entries) / 3600, 3),
                "voices": len({e["voice"] for e in entries}),
            }
    tmp = marker.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {"settings": spec.settings(), "splits": stats, "voices": split_voices(spec)}, indent=2
        )
    )
    tmp.replace(marker)
    return out
