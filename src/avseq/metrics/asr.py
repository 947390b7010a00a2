"""Word/character error rates with substitution, deletion and insertion counts."""

from __future__ import annotations

from dataclasses import dataclass, field


def edit_ops(ref: list[str], hyp: list[str]) -> tuple[int, int, int]:
    """Minimum-edit alignment of `hyp` to `ref`: (substitutions, deletions, insertions).

    Among alignments of minimal total cost, prefers substitutions over deletion+insertion.
    """
    n, m = len(ref), len(hyp)
    # cost[i][j] = (total, subs, dels, ins) aligning ref[:i] with hyp[:j]
    prev = [(j, 0, 0, j) for j in range(m + 1)]
    for i in range(1, n + 1):
        cur = [(i, 0, i, 0)]
        for j in range(1, m + 1):
            if ref[i - 1] == hyp[j - 1]:
                best = prev[j - 1]
            else:
                t, s, d, k = prev[j - 1]
                best = (t + 1, s + 1, d, k)
            t, s, d, k = prev[j]
            if t + 1 < best[0]:
                best = (t + 1, s, d + 1, k)
            t, s, d, k = cur[j - 1]
            if t + 1 < best[0]:
                best = (t + 1, s, d, k + 1)
            cur.append(best)
        prev = cur
    return prev[m][1], prev[m][2], prev[m][3]


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
