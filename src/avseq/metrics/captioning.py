"""Caption metrics: BLEU-1..4 and ROUGE-L (torchmetrics), CIDEr-D, and slot accuracy.

CIDEr-D (Vedantam et al., 2015) has no maintained implementation that works without Java and
a 100 MB package, so it is written here following the coco-caption reference
(`pycocoevalcap/cider/cider_scorer.py`): tf-idf weighted n-gram vectors (n = 1..4) with the
document frequencies taken over the evaluated set's references, clipped hypothesis counts,
a Gaussian length penalty (sigma 6), averaged over references and n, times 10. The tests
check it against values the reference implementation gives.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from torchmetrics.text import BLEUScore, ROUGEScore

from avseq.text.video_language import caption_slots, parse_caption
from avseq.text.vocab import words

NGrams = Counter[tuple[str, ...]]


def _ngrams(text: str, n: int = 4) -> NGrams:
    tokens = words(text)
    return Counter(
        tuple(tokens[i : i + k]) for k in range(1, n + 1) for i in range(len(tokens) - k + 1)
    )


def cider_d(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]], n: int = 4, sigma: float = 6.0
) -> tuple[float, list[float]]:
    """Corpus CIDEr-D and the per-video scores."""
    if len(hypotheses) != len(references):
        raise ValueError("one list of references per hypothesis")
    if not hypotheses:
        return 0.0, []
    refs = [[_ngrams(r, n) for r in rs] for rs in references]
    df: Counter[tuple[str, ...]] = Counter()
    for rs in refs:
        df.update(set().union(*rs) if rs else set())
    log_docs = math.log(float(len(refs)))

    def vec(counts: NGrams) -> tuple[list[dict], list[float], int]:
        v: list[dict] = [{} for _ in range(n)]
        norm = [0.0] * n
        length = 0
        for gram, tf in counts.items():
            k = len(gram) - 1
            v[k][gram] = tf * (log_docs - math.log(max(1.0, df[gram])))
            norm[k] += v[k][gram] ** 2
            if k == 1:  # the reference counts bigrams as the length
                length += tf
        return v, [math.sqrt(x) for x in norm], length

    def sim(h: tuple, r: tuple) -> list[float]:
        (vh, nh, lh), (vr, nr, lr) = h, r
        delta = float(lh - lr)
        out = []
        for k in range(n):
            val = sum(min(w, vr[k].get(g, 0.0)) * vr[k].get(g, 0.0) for g, w in vh[k].items())
            if nh[k] != 0 and nr[k] != 0:
                val /= nh[k] * nr[k]
            out.append(val * math.exp(-(delta**2) / (2 * sigma**2)))
        return out

    scores = []
    for hyp, rs in zip(hypotheses, refs, strict=True):
        h = vec(_ngrams(hyp, n))
        total = [0.0] * n
        for r in rs:
            total = [a + b for a, b in zip(total, sim(h, vec(r)), strict=True)]
        mean = sum(total) / n
        scores.append(10.0 * mean / max(1, len(rs)))
    return sum(scores) / len(scores), scores


def reference_slots(references: Sequence[str]) -> tuple[str, str, str] | None:
    """The (colour, shape, action) most references agree on, or None if none names them."""
    parsed = [s for s in map(parse_caption, references) if s is not None]
    return Counter(parsed).most_common(1)[0][0] if parsed else None


SLOTS = ("colour", "shape", "action")
SLOT_COUNTS = ("all", *SLOTS, "total")  # the keys of `slot_counts`


def slot_counts(hypotheses: Sequence[str], references: Sequence[Sequence[str]]) -> dict[str, int]:
    """How many captions name the main object's colour, shape and action all correctly
    ("all"), and each slot on its own, among the `total` whose references name them."""
    counts = dict.fromkeys(SLOT_COUNTS, 0)
    for hyp, refs in zip(hypotheses, references, strict=True):
        truth = reference_slots(refs)
        if truth is None:
            continue
        named = caption_slots(hyp)
        counts["total"] += 1
        counts["all"] += named == truth
        for slot, said, right in zip(SLOTS, named, truth, strict=True):
            counts[slot] += said == right
    return counts


def caption_scores(
    hypotheses: Sequence[str], references: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """Corpus BLEU-1..4, ROUGE-L (F, best reference), CIDEr-D and slot accuracy (None when
    the references are not built-in-style captions)."""
    hyps = [" ".join(words(h)) for h in hypotheses]
    refs = [[" ".join(words(r)) for r in rs] for rs in references]
    out: dict[str, Any] = {}
    for n in range(1, 5):
        out[f"bleu{n}"] = float(BLEUScore(n_gram=n)(hyps, refs))
    rouge = ROUGEScore(rouge_keys="rougeL", accumulate="best")(hyps, refs)
    out["rouge_l"] = float(rouge["rougeL_fmeasure"])
    out["cider_d"] = cider_d(hyps, refs)[0]
    counts = slot_counts(hyps, refs)
    total = counts["total"]
    out["slot_accuracy"] = counts["all"] / total if total else None
    for slot in SLOTS:  # which of the three slots fails
        out[f"slot_{slot}"] = counts[slot] / total if total else None
    out["slot_videos"] = total
    return out
