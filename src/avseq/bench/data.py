"""Data at scale: a generated manifest of `--lines` utterances (default 1,000,000, all pointing
at a few short WAV files, durations given): the time and peak memory to read and validate it,
and to start training on it (the first optimizer step of a tiny model); and the word n-gram
builder's speed on generated text. Each stage runs in its own process, so its peak resident
memory is its own.

The reference is what one line costs at the least: `json.loads` of every line alone, timed in
the same run."""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

WORDS = [
    "the",
    "a",
    "of",
    "to",
    "and",
    "in",
    "is",
    "it",
    "that",
    "on",
    "call",
    "my",
    "sister",
    "turn",
    "off",
    "lights",
    "open",
    "door",
]


def make_manifest(folder: Path, lines: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    wavs = []
    for i in range(8):
        path = folder / f"u{i}.wav"
        sf.write(str(path), rng.normal(0, 0.05, 16000 * (1 + i % 3)).astype(np.float32), 16000)
        wavs.append((path.name, 1 + i % 3))
    manifest = folder / "big.jsonl"
    with manifest.open("w") as f:
        for n in range(lines):
            name, seconds = wavs[n % len(wavs)]
            text = " ".join(WORDS[(n * 7 + k) % len(WORDS)] for k in range(3 + n % 5))
            f.write(json.dumps({"audio_filepath": name, "duration": seconds, "text": text}))
            f.write("\n")
    return manifest


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_json(manifest: str) -> int:
    with open(manifest, "rb") as f:
        return sum(1 for line in f if json.loads(line))


def stage_read(manifest: str) -> int:
    from avseq.data.speech.manifest import read_manifest
    from avseq.text.tokenizer import CharTokenizer

    utts, problems = read_manifest(manifest, CharTokenizer(), on_error="skip")
    return len(utts) + len(problems)


def stage_train(manifest: str) -> int:
    from avseq.config import load_config
    from avseq.train import train

    folder = Path(manifest).parent
    small = folder / "small.jsonl"
    with open(manifest) as f:
        small.write_text("".join(next(f) for _ in range(16)))
    cfg = load_config(
        [
            "experiment=speech",
            "data=manifests",
            f"data.train_manifest={manifest}",
            f"data.val_manifest={small}",
            "data.num_workers=0",
            "data.batch_size=8",
            f"paths.runs_dir={folder / 'runs'}",
            "trainer.max_steps=1",
            "trainer.limit_val_batches=0",
            "test=false",
            "logger.tensorboard=null",
            "callbacks.word_lm=null",
            "model.net.encoder.hidden_size=32",
            "model.net.encoder.num_layers=1",
        ]
    )
    return int(bool(train(cfg)))


def stage_word_lm(words: int) -> int:
    from avseq.decoding.ngram import kneser_ney

    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(20000)]
    ids = rng.zipf(1.3, words) % len(vocab)
    sentences = [[vocab[i] for i in ids[s : s + 12]] for s in range(0, words, 12)]
    return len(kneser_ney(sentences, 3)[2])


def resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _child(name: str, arg, out) -> None:
    import avseq.config
    import avseq.data.speech.manifest
    import avseq.train  # noqa: F401

    before = resident_mb()
    start = time.perf_counter()
    value = STAGES[name](arg)
    out.put((time.perf_counter() - start, peak_mb() - before, value))


STAGES = {"json": stage_json, "read": stage_read, "train": stage_train, "word_lm": stage_word_lm}


def measure(name: str, arg) -> tuple[float, float, int]:
    """(seconds, peak resident MB above the process's after its imports, result) of one stage
    in a fresh process."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, arg, out))
    proc.start()
    result = out.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--lm-words", type=int, default=5_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        manifest = str(make_manifest(Path(tmp), args.lines))
        print(f"manifest of {args.lines:,} lines written in {time.perf_counter() - start:.1f} s")
        base_s, base_mb, _ = measure("json", manifest)
        base_mb = max(0.0, base_mb)
        print(f"reference: json.loads of every line: {base_s:.1f} s, peak +{base_mb:.0f} MB")
        for name, what in (("read", "read and validate"), ("train", "start training")):
            seconds, mb, _ = measure(name, manifest)
            print(
                f"{what:<18}: {seconds:6.1f} s ({seconds / base_s:.1f}x the reference), "
                f"peak +{max(0.0, mb):.0f} MB ({1024 * mb / args.lines:.2f} kB per line)"
            )
    seconds, mb, grams = measure("word_lm", args.lm_words)
    print(
        f"word 3-gram LM (Python Kneser-Ney) of {args.lm_words:,} words: {seconds:.1f} s "
        f"({args.lm_words / seconds / 1e6:.2f} M words/s), peak +{max(0.0, mb):.0f} MB, "
        f"{grams:,} trigrams"
    )


if __name__ == "__main__":
    main()
