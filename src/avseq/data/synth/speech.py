"""The built-in spoken corpus: English utterances from two synthesizers, no downloads.

Each utterance is spoken by espeak-ng (formant synthesis; voices are (accent, variant) pairs)
or by flite (diphone and clustergen voices, several built from recordings of real speakers),
mixed per utterance by `flite_share`. Train, validation and test use disjoint espeak-ng voices;
one flite voice (`unseen_voice`) is never trained on and forms the `test_unseen_voice` split;
validation and test sentences never occur in training. Speaking rate and pitch are drawn per
utterance. Channel augmentation (noise, reverberation, codecs...) happens at load time.
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
from avseq.data.synth import espeak, flite
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
UNSEEN_VOICE_SPLIT = "test_unseen_voice"
SPLITS = ("train", "val", "test", UNSEEN_VOICE_SPLIT)
GENERATOR_VERSION = 3  # part of the corpus hash: bump when generation changes its output


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
        flite_share: fraction of train and validation utterances spoken by flite (the test
            split stays espeak-ng only: unseen espeak-ng voices).
        flite_voices: flite voices of train and validation.
        unseen_voice: the flite voice of `test_unseen_voice`, never trained on.
        unseen_hours: audio in `test_unseen_voice`.
        stretch: (low, high) flite duration factor (> 1 slower).
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
    flite_share: float = 0.5
    flite_voices: tuple[str, ...] = ("kal", "kal16", "awb", "slt")
    unseen_voice: str = "rms"
    unseen_hours: float = 0.2
    stretch: tuple[float, float] = (0.8, 1.25)

    def __post_init__(self) -> None:
        if not 0 <= self.flite_share <= 1:
            raise AvseqError(f"corpus.flite_share must be in [0, 1], got {self.flite_share}")
        for voice in (*self.flite_voices, self.unseen_voice):
            if voice not in flite.VOICES:
                raise AvseqError(
                    f"corpus: flite has no voice {voice!r} ({', '.join(flite.VOICES)})"
                )
        if self.unseen_voice in self.flite_voices:
            raise AvseqError(
                f"corpus.unseen_voice {self.unseen_voice!r} is also in corpus.flite_voices: "
                "the unseen-voice split must not be trained on"
            )

    @property
    def uses_flite(self) -> bool:
        return (self.flite_share > 0 and bool(self.flite_voices)) or self.unseen_hours > 0

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


FLITE_PREFIX = "flite:"  # voice names of flite utterances in the manifests, e.g. "flite:slt"


def split_voices(spec: CorpusSpec) -> dict[str, list[str]]:
    """Disjoint espeak-ng voice lists per split, e.g. {"train": ["en-us+m3", ...], ...}."""
    voices = [f"{a}+{v}" if v else a for a in spec.accents for v in spec.variants]
    random.Random(spec.seed).shuffle(voices)
    n_test = max(1, round(len(voices) * spec.test_voices))
    n_val = max(1, round(len(voices) * spec.val_voices))
    return {
        "test": voices[:n_test],
        "val": voices[n_test : n_test + n_val],
        "train": voices[n_test + n_val :],
    }


def _plan_voice(spec: CorpusSpec, split: str, espeak_voices: list[str], rng: random.Random) -> dict:
    """Engine, voice, rate and pitch of one utterance of `split`, and its words per second."""
    if split == UNSEEN_VOICE_SPLIT:
        voice = spec.unseen_voice
    elif split != "test" and spec.flite_voices and rng.random() < spec.flite_share:
        voice = rng.choice(spec.flite_voices)
    else:
        rate = rng.randint(*spec.rate_wpm)
        # espeak-ng speaks ~15% faster than its nominal words per minute
        job = {"voice": rng.choice(espeak_voices), "rate": rate, "pitch": rng.randint(*spec.pitch)}
        return {**job, "words_per_second": rate / 60 / 0.85}
    stretch = round(rng.uniform(*spec.stretch), 3)
    pitch = round(rng.uniform(*flite.PITCH_HZ[voice]), 1)
    return {
        "voice": FLITE_PREFIX + voice,
        "stretch": stretch,
        "pitch": pitch,
        "words_per_second": 2.8 / stretch,
    }


def plan_jobs(spec: CorpusSpec) -> dict[str, list[dict]]:
    """Chooses text, voice, rate and pitch of every utterance (cheap, deterministic)."""
    voices = split_voices(spec)
    hours = {
        "train": spec.train_hours,
        "val": spec.val_hours,
        "test": spec.test_hours,
        UNSEEN_VOICE_SPLIT: spec.unseen_hours,
    }
    sentences = SentenceGenerator()
    held_out: set[str] = set()
    jobs: dict[str, list[dict]] = {}
    # held-out texts first, so training can avoid them
    for split in (UNSEEN_VOICE_SPLIT, "test", "val", "train"):
        rng = random.Random(f"{spec.seed}-{split}")
        budget, planned, split_jobs = hours[split] * 3600, 0.0, []
        while planned < budget:
            text = sentences.sample(rng)
            if text in held_out:
                continue
            if split != "train":
                held_out.add(text)
            job = {"id": f"{split}-{len(split_jobs):06d}", "text": text}
            job.update(_plan_voice(spec, split, voices.get(split, voices["test"]), rng))
            job["pad"] = (round(rng.uniform(0.02, 0.3), 3), round(rng.uniform(0.02, 0.3), 3))
            # an estimate for the budget; the manifest records the real durations
            planned += sum(job["pad"]) + len(text.split()) / job.pop("words_per_second")
            split_jobs.append(job)
        jobs[split] = split_jobs
    return jobs


def synthesize(
    text: str,
    voice: str,
    rate: float,
    pitch: float,
    sample_rate: int,
    pad: tuple[float, float] = (0.0, 0.0),
) -> torch.Tensor:
    """Speaks `text`; returns a (T,) float32 waveform at `sample_rate`.

    Args:
        voice: an espeak-ng voice ("en-us+m3"), or "flite:<voice>" ("flite:slt").
        rate: espeak-ng words per minute, or flite's duration factor.
        pitch: espeak-ng pitch (0-99), or flite's mean pitch in Hz.
        pad: seconds of silence added before and after the speech.
    """
    if voice.startswith(FLITE_PREFIX):
        data, rate_in = flite.speak(text, voice.removeprefix(FLITE_PREFIX), rate, pitch)
    else:
        data, rate_in = espeak.speak(text, voice, int(rate), int(pitch))
    wave = to_mono_resampled(data, rate_in, sample_rate)
    before, after = (int(p * sample_rate) for p in pad)
    return torch.nn.functional.pad(wave, (before, after))


def _render(job: dict, out_dir: str, sample_rate: int) -> dict:
    torch.set_num_threads(1)
    rate = job["stretch"] if "stretch" in job else job["rate"]
    wave = synthesize(job["text"], job["voice"], rate, job["pitch"], sample_rate, job["pad"])
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


def corpus_voices(spec: CorpusSpec) -> dict[str, list[str]]:
    """Every voice each split may use."""
    voices = split_voices(spec)
    trained_flite = [FLITE_PREFIX + v for v in spec.flite_voices] if spec.flite_share else []
    voices["train"] += trained_flite
    voices["val"] += trained_flite
    voices[UNSEEN_VOICE_SPLIT] = [FLITE_PREFIX + spec.unseen_voice] if spec.unseen_hours else []
    return voices


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
    if spec.uses_flite and not flite.available():
        raise AvseqError(
            f"flite is not installed; {flite.INSTALL_HINT} (or set data.corpus.flite_share=0 "
            "data.corpus.unseen_hours=0 for an espeak-ng-only corpus)"
        )
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
