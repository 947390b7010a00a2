"""Word/character error rates with substitution, deletion and insertion counts."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from rapidfuzz.distance import Levenshtein


def edit_ops(ref: Sequence[str], hyp: Sequence[str]) -> tuple[int, int, int]:
    """A minimum-edit alignment of `hyp` to `ref` (rapidfuzz's Levenshtein, the alignment
    jiwer uses): (substitutions, deletions, insertions)."""
    counts = Counter(op.tag for op in Levenshtein.editops(ref, hyp))
    return counts["replace"], counts["delete"], counts["insert"]


@dataclass
class ErrorCounts:
    """Accumulated edit operations against a reference length."""

    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    reference_length: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        return self.errors / max(1, self.reference_length)

    def add(self, ref: list[str], hyp: list[str]) -> ErrorCounts:
        s, d, i = edit_ops(ref, hyp)
        self.substitutions += s
        self.deletions += d
        self.insertions += i
        self.reference_length += len(ref)
        return self

    def as_dict(self) -> dict[str, float | int]:
        return {
            "rate": self.rate,
            "errors": self.errors,
            "substitutions": self.substitutions,
            "deletions": self.deletions,
            "insertions": self.insertions,
            "reference_length": self.reference_length,
        }


@dataclass
class ASRScore:
    """Word and character error counts over a set of utterances."""

    words: ErrorCounts = field(default_factory=ErrorCounts)
    chars: ErrorCounts = field(default_factory=ErrorCounts)

    def add(self, ref: str, hyp: str) -> tuple[ErrorCounts, ErrorCounts]:
        """Adds one utterance; returns its own (word, char) counts."""
        w = ErrorCounts().add(ref.split(), hyp.split())
        c = ErrorCounts().add(list(ref), list(hyp))
        for total, one in ((self.words, w), (self.chars, c)):
            total.substitutions += one.substitutions
            total.deletions += one.deletions
            total.insertions += one.insertions
            total.reference_length += one.reference_length
        return w, c
