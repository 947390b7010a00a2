"""Speech evaluation: WER/CER with error counts on a manifest, through the one decode path."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from avseq.data.speech.manifest import read_manifest
from avseq.errors import AvseqError
from avseq.inference.speech import Transcriber
from avseq.media.audio import load_audio
from avseq.metrics.asr import ASRScore
from avseq.metrics.asr_analysis import GROUP_FIELDS, error_analysis
from avseq.utils.io import write_report

log = logging.getLogger(__name__)


def split_manifest(test_manifest: Path, split: str) -> Path:
    """The manifest of `split` beside a checkpoint's test manifest (the built-in corpus's
    `test_unseen_voice`, or any `<split>.jsonl` of the user's next to it)."""
    if split == "test":
        return test_manifest
    path = test_manifest.with_name(f"{split}.jsonl")
    if not path.is_file():
        known = sorted(p.stem for p in test_manifest.parent.glob("*.jsonl"))
        raise AvseqError(
            f"--split {split}: no {path.name} beside the checkpoint's test manifest "
            f"{test_manifest} (splits there: {', '.join(known) or 'none'})"
        )
    return path


def group_field(utts: list, asked: str | None) -> str | None:
    """The manifest field results are grouped by: `asked`, else the first of GROUP_FIELDS
    the manifest has."""
    if asked:
        if not any(asked in u.fields for u in utts):
            raise AvseqError(f"--group-by {asked}: no utterance of the manifest has that field")
        return asked
    return next((f for f in GROUP_FIELDS if utts and f in utts[0].fields), None)


def evaluate_speech(
    transcriber: Transcriber,
    manifest: str | Path,
    out_dir: Path,
    limit: int | None = None,
    group_by: str | None = None,
) -> dict[str, Any]:
    """WER/CER with S/D/I counts on a manifest (its first `limit` utterances if given); writes
    predictions.jsonl, summary.json/.md and the error analysis (`error_analysis`: trn files,
    alignments, frequent errors, WER per speaker or `group_by` field)."""
    utts, problems = read_manifest(manifest, transcriber.tokenizer, on_error="skip")
    utts = utts[:limit] if limit else utts
    field = group_field(utts, group_by)
    groups: list[str | None] = []
    for problem in problems:
        log.warning("skipped: %s", problem)
    score, rows, skipped = ASRScore(), [], len(problems)
    for b in range(0, len(utts), transcriber.batch_size * 4):
        chunk, waves = [], []
        for utt in utts[b : b + transcriber.batch_size * 4]:
            try:
                waves.append(load_audio(utt.audio_filepath, transcriber.sample_rate))
                chunk.append(utt)
            except AvseqError as err:
                log.warning("skipped: %s: %s", utt.where, err)
                skipped += 1
        for utt, hyp in zip(chunk, transcriber.transcribe_waves(waves), strict=True):
            ref = transcriber.tokenizer.normalize(utt.text)
            w, c = score.add(ref, hyp)
            groups.append(str(utt.fields.get(field)) if field else None)
            rows.append(
                {
                    "audio_filepath": str(utt.audio_filepath),
                    "reference": ref,
                    "hypothesis": hyp,
                    "wer": round(w.rate, 4),
                    "cer": round(c.rate, 4),
                    "word_errors": w.as_dict(),
                    "char_errors": c.as_dict(),
                }
            )
    if not rows:
        raise AvseqError(f"{manifest}: no utterance could be evaluated")
    rtf = transcriber.compute_seconds / max(transcriber.audio_seconds, 1e-9)
    summary = {
        "checkpoint": str(transcriber.checkpoint),
        "manifest": str(manifest),
        "utterances": len(rows),
        "skipped": skipped,
        "wer": score.words.rate,
        "cer": score.chars.rate,
        "words": score.words.as_dict(),
        "chars": score.chars.as_dict(),
        "real_time_factor": rtf,
        "device": str(transcriber.torch_device),
        "decoding": transcriber.options.describe(),
    }
    refs, hyps = [r["reference"] for r in rows], [r["hypothesis"] for r in rows]
    summary["errors"] = error_analysis(out_dir, refs, hyps, groups, field)
    write_report(out_dir, rows, summary, summary_markdown(summary, rows))
    return summary


def summary_markdown(summary: dict[str, Any], rows: list[dict[str, Any]], worst: int = 5) -> str:
    w, c = summary["words"], summary["chars"]
    lines = [
        f"# Evaluation: {Path(summary['checkpoint']).name} on {Path(summary['manifest']).name}",
        "",
        f"{summary['utterances']} utterances ({summary['skipped']} skipped), "
        f"decoding: {summary.get('decoding', 'greedy')}, "
        f"real-time factor {summary['real_time_factor']:.4f} on {summary['device']}",
        "",
        "| unit | error rate | substitutions | deletions | insertions | reference |",
        "|---|---|---|---|---|---|",
        f"| words | {100 * w['rate']:.2f}% | {w['substitutions']} | {w['deletions']} | "
        f"{w['insertions']} | {w['reference_length']} |",
        f"| chars | {100 * c['rate']:.2f}% | {c['substitutions']} | {c['deletions']} | "
        f"{c['insertions']} | {c['reference_length']} |",
        "",
        f"Worst {worst} utterances by WER:",
        "",
    ]
    for r in sorted(rows, key=lambda r: -r["wer"])[:worst]:
        lines += [f"- REF: {r['reference']}", f"  HYP: {r['hypothesis']}"]
    return "\n".join(lines) + "\n"
