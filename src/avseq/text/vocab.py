"""Word vocabulary for captions: built from training captions, stored in the checkpoint."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def words(text: str) -> list[str]:
    """Lower-cased words of a caption; punctuation is dropped ("Don't!" -> ["don't"])."""
    return _WORD.findall(text.lower().replace("’", "'"))


class WordVocab:
    """Words <-> ids; ids 0..3 are `<pad>`, `<bos>`, `<eos>`, `<unk>`.

    Args:
        tokens: the words, in id order, after the four special tokens.
    """

    pad, bos, eos, unk = 0, 1, 2, 3

    def __init__(self, tokens: Iterable[str]) -> None:
        tokens = [t for t in tokens if t not in SPECIALS]
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary words must be distinct")
        self.itos: list[str] = [*SPECIALS, *tokens]
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(cls, captions: Iterable[str], min_count: int = 1) -> WordVocab:
        """Words seen at least `min_count` times, most frequent first (ties alphabetical)."""
        counts = Counter(w for caption in captions for w in words(caption))
        kept = sorted(
            (w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w)
        )
        return cls(kept)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """Word ids of a caption (no `<bos>`/`<eos>`), cut to `max_len` words."""
        ids = [self.stoi.get(w, self.unk) for w in words(text)]
        return ids[:max_len] if max_len else ids

    def decode(self, ids: Iterable[int]) -> str:
        """Ids back to a sentence; stops at `<eos>`, leaves out `<pad>`/`<bos>`."""
        out = []
        for i in ids:
            if i == self.eos:
                break
            if i not in (self.pad, self.bos):
                out.append(self.itos[i] if 0 <= i < len(self.itos) else UNK)
        return " ".join(out)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "words", "tokens": self.itos[len(SPECIALS) :]}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> WordVocab:
        if state.get("type") != "words" or not isinstance(state.get("tokens"), list):
            raise ValueError("not a word vocabulary state")
        return cls(state["tokens"])
