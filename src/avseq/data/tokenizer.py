"""Character tokenizer for CTC: index 0 is the blank, then one index per character."""

from __future__ import annotations

import re
from typing import Any

from avseq.data.text import ALPHABET

_SPACES = re.compile(r"\s+")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


class CharTokenizer:
    """Maps transcripts to character ids and back; its vocabulary travels in the checkpoint.

    Args:
        alphabet: the characters transcripts may hold (each once). Transcripts are lower-cased
            and whitespace is collapsed before encoding; any other character is an error.
    """

    blank: int = 0

    def __init__(self, alphabet: str = ALPHABET) -> None:
        if len(set(alphabet)) != len(alphabet) or not alphabet:
            raise ValueError(f"alphabet must list distinct characters, got {alphabet!r}")
        self.alphabet = alphabet
        self._index = {ch: i + 1 for i, ch in enumerate(alphabet)}

    @property
    def vocab_size(self) -> int:
        """Number of output classes including the blank."""
        return len(self.alphabet) + 1

    def normalize(self, text: str) -> str:
        """Lower-cases, straightens quotes and collapses whitespace."""
        return _SPACES.sub(" ", text.translate(_QUOTES).lower()).strip()

    def invalid_chars(self, text: str) -> list[str]:
        """Characters of the normalized `text` that are outside the vocabulary."""
        return sorted({ch for ch in self.normalize(text) if ch not in self._index})

    def encode(self, text: str) -> list[int]:
        """Normalizes and encodes a transcript.

        Raises:
            ValueError: naming the characters that are outside the vocabulary.
        """
        norm = self.normalize(text)
        bad = self.invalid_chars(norm)
        if bad:
            raise ValueError(
                f"transcript has characters outside the vocabulary: {bad!r} (the "
                f"vocabulary is {self.alphabet!r}); spell numbers out as words, "
                "or remove those characters"
            )
        return [self._index[ch] for ch in norm]

    def decode(self, ids: list[int]) -> str:
        """Ids (blanks already removed) back to text."""
        return "".join(self.alphabet[i - 1] for i in ids if 0 < i <= len(self.alphabet))

    def to_dict(self) -> dict[str, Any]:
        return {"type": "char", "alphabet": self.alphabet}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> CharTokenizer:
        if state.get("type") != "char" or not isinstance(state.get("alphabet"), str):
            raise ValueError(f"not a character tokenizer state: {state!r}")
        return cls(state["alphabet"])
