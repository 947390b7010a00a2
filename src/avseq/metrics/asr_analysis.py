"""Error analysis of transcripts: sclite `trn` files, word alignments and the most frequent
substitutions (jiwer), and word error rates per group (speaker, voice or any manifest field)."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import jiwer

from avseq.metrics.asr import ErrorCounts
from avseq.utils.io import write_text_atomic

GROUP_FIELDS = ("speaker", "voice", "client_id")  # grouped by the first one a manifest has
SCLITE_PATHS = ("/usr/lib/sctk/bin/sclite",)  # where Debian's sctk keeps it, off PATH


def utterance_ids(groups: list[str | None]) -> list[str]:
    """sclite ids `<speaker>-<n>` (sclite's speaker is the part before the first "-"): the
    group (or "all") with its separators replaced, and the utterance's number."""
    table = str.maketrans({c: "." for c in " -_()"})
    return [f"{(g or 'all').translate(table)}-{i:06d}" for i, g in enumerate(groups)]


def write_trn(path: Path, texts: list[str], ids: list[str]) -> None:
    """A sclite `trn` file: `words (id)` per line."""
    write_text_atomic(path, "".join(f"{t} ({i})\n" for t, i in zip(texts, ids, strict=True)))


def sclite_summary(ref: Path, hyp: Path) -> str | None:
    """sclite's summary table of `hyp` against `ref` (sctk), or None when sclite is not
    installed."""
    sclite = shutil.which("sclite") or next((p for p in SCLITE_PATHS if Path(p).is_file()), None)
    if sclite is None:
        return None
    result = subprocess.run(
        [sclite, "-r", str(ref), "trn", "-h", str(hyp), "trn", "-i", "spu_id", "-o", "rsum",
         "stdout"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    return result.stdout if result.returncode == 0 else None


def sclite_counts(summary: str) -> dict[str, float] | None:
    """The totals of sclite's raw summary (`Sum` line): words, errors and their kinds, and
    the word error rate they give."""
    for line in summary.splitlines():
        cells = [c.strip() for c in line.split("|") if c.strip()]
        if cells and cells[0] == "Sum":
            _, words = map(int, cells[1].split())
            _, sub, dele, ins, err, _ = map(int, cells[2].split())
            counts = {"words": words, "substitutions": sub, "deletions": dele}
            return counts | {"insertions": ins, "errors": err, "wer": err / max(1, words)}
    return None


def group_rates(refs: list[str], hyps: list[str], groups: list[str | None]) -> list[dict]:
    """WER per group, worst first."""
    counts: dict[str, ErrorCounts] = defaultdict(ErrorCounts)
    utts: Counter = Counter()
    for ref, hyp, group in zip(refs, hyps, groups, strict=True):
        counts[str(group)].add(ref.split(), hyp.split())
        utts[str(group)] += 1
    rows = [{"group": g, "utterances": utts[g], **c.as_dict()} for g, c in counts.items()]
    return sorted(rows, key=lambda r: -r["rate"])


def error_analysis(
    out_dir: Path,
    refs: list[str],
    hyps: list[str],
    groups: list[str | None],
    group_field: str | None,
    top: int = 20,
) -> dict[str, Any]:
    """Writes ref.trn / hyp.trn, alignments.txt (every utterance, REF/HYP/S-D-I lines) and
    errors.md (most frequent substitutions, deletions, insertions; WER per group), and scores
    the trn files with sclite when it is installed.

    Returns:
        What summary.json gets: the most frequent errors, per-group WER, sclite's WER.
    """
    ids = utterance_ids(groups if group_field else [None] * len(refs))
    write_trn(out_dir / "ref.trn", refs, ids)
    write_trn(out_dir / "hyp.trn", hyps, ids)
    scored = [(r, h) for r, h in zip(refs, hyps, strict=True) if r or h]
    subs: dict = {}
    ins: dict = {}
    dels: dict = {}
    if scored:
        output = jiwer.process_words([r for r, _ in scored], [h for _, h in scored])
        text = jiwer.visualize_alignment(output, show_measures=True)
        subs, ins, dels = jiwer.collect_error_counts(output)
    else:
        text = "no words in any reference or hypothesis\n"
    write_text_atomic(out_dir / "alignments.txt", text)
    analysis: dict[str, Any] = {
        "substitutions": [
            {"reference": r, "hypothesis": h, "count": n}
            for (r, h), n in Counter(subs).most_common(top)
        ],
        "deletions": [{"word": w, "count": n} for w, n in Counter(dels).most_common(top)],
        "insertions": [{"word": w, "count": n} for w, n in Counter(ins).most_common(top)],
    }
    if group_field:
        analysis["group_field"] = group_field
        analysis["groups"] = group_rates(refs, hyps, groups)
    summary = sclite_summary(out_dir / "ref.trn", out_dir / "hyp.trn")
    if summary is not None:
        write_text_atomic(out_dir / "sclite.txt", summary)
        analysis["sclite"] = sclite_counts(summary)
    write_text_atomic(out_dir / "errors.md", errors_markdown(analysis))
    return analysis


def errors_markdown(analysis: dict[str, Any]) -> str:
    lines = ["# Most frequent errors", "", "| reference | hypothesis | count |", "|---|---|---|"]
    lines += [
        f"| {s['reference']} | {s['hypothesis']} | {s['count']} |"
        for s in analysis["substitutions"]
    ]
    for kind in ("deletions", "insertions"):
        words = ", ".join(f"{d['word']} ({d['count']})" for d in analysis[kind]) or "none"
        lines += ["", f"{kind.capitalize()}: {words}"]
    if "groups" in analysis:
        lines += [
            "",
            f"## WER per {analysis['group_field']}",
            "",
            f"| {analysis['group_field']} | utterances | WER | errors | words |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {g['group']} | {g['utterances']} | {100 * g['rate']:.2f}% | {g['errors']} | "
            f"{g['reference_length']} |"
            for g in analysis["groups"]
        ]
    if analysis.get("sclite"):
        sclite = analysis["sclite"]
        lines += [
            "",
            f"sclite (sctk): WER {100 * sclite['wer']:.2f}%, {sclite['errors']} errors in "
            f"{sclite['words']} words (sclite.txt)",
        ]
    return "\n".join(lines) + "\n"
