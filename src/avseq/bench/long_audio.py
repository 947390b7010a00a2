"""Long recordings: a file made of a manifest's utterances back to back, transcribed in chunks
(`Transcriber.transcribe_long`, the path of `avseq transcribe`), against the same utterances
decoded one by one; WER both ways and the process's peak memory.

    python -m avseq.bench.long_audio --checkpoint CKPT --manifest test.jsonl [--minutes 20]
        [--chunk-seconds 30] [--decoder ctc-beam --lm words.arpa] [--output-dir DIR]

WER of the chunked transcript is one alignment of the whole file's words to the utterances'
references joined in order; the one-by-one WER is given both ways (summed per utterance, and
as one alignment of the joined transcripts), so the comparison is like for like.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import soundfile as sf

from avseq.data.speech.manifest import read_manifest
from avseq.inference.speech import DecodeOptions, Transcriber
from avseq.media.audio import load_audio
from avseq.metrics.asr import ErrorCounts
from avseq.text.normalize import normalize_text


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_recording(
    manifest: Path, seconds: float, out: Path, sample_rate: int
) -> tuple[list[str], list[Path]]:
    """Writes the manifest's first utterances (about `seconds` in all) back to back to `out`,
    one at a time; returns their normalized references and files."""
    refs, paths, total = [], [], 0.0
    utterances, _ = read_manifest(manifest)
    with sf.SoundFile(str(out), "w", samplerate=sample_rate, channels=1) as f:
        for utt in utterances:
            if total >= seconds:
                break
            wave = load_audio(utt.audio_filepath, sample_rate).numpy()
            f.write(wave)
            total += len(wave) / sample_rate
            refs.append(normalize_text(utt.text))
            paths.append(utt.audio_filepath)
    return refs, paths


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--manifest", required=True)
    parser.add_argument("--minutes", type=float, default=20.0)
    parser.add_argument("--chunk-seconds", type=float, default=30.0)
    parser.add_argument("--decoder", default="greedy")
    parser.add_argument("--lm", default=None)
    parser.add_argument("--output-dir", default="long_audio")
    args = parser.parse_args(argv)
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    options = DecodeOptions(args.decoder, lm=args.lm)
    transcriber = Transcriber(args.checkpoint, chunk_seconds=args.chunk_seconds, options=options)
    recording = out_dir / "recording.flac"
    refs, paths = build_recording(
        Path(args.manifest), 60 * args.minutes, recording, transcriber.sample_rate
    )
    loaded_mb = peak_rss_mb()
    start = time.perf_counter()
    chunked = transcriber.transcribe_long(recording).text
    chunked_s = time.perf_counter() - start
    chunked_mb = peak_rss_mb()
    singles, size = [], transcriber.batch_size
    for i in range(0, len(paths), size):
        waves = [load_audio(p, transcriber.sample_rate) for p in paths[i : i + size]]
        singles += transcriber.transcribe_waves(waves)
    per_utt = ErrorCounts()
    for ref, hyp in zip(refs, singles, strict=True):
        per_utt.add(ref.split(), hyp.split())
    whole = " ".join(refs).split()
    result = {
        "decoding": options.describe(),
        "utterances": len(refs),
        "seconds": sf.info(str(recording)).duration,
        "chunk_seconds": args.chunk_seconds,
        "wer_chunked": ErrorCounts().add(whole, chunked.split()).rate,
        "wer_one_by_one": per_utt.rate,
        "wer_one_by_one_joined": ErrorCounts().add(whole, " ".join(singles).split()).rate,
        "chunked_decode_seconds": chunked_s,
        "peak_rss_mb_model_loaded": loaded_mb,
        "peak_rss_mb_after_chunked": chunked_mb,
    }
    (out_dir / "chunked.txt").write_text(chunked + "\n")
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
