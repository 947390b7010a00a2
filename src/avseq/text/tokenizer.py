"""Transcript tokenizers for CTC and attention models: index 0 is the blank, then one index per
unit. `CharTokenizer` (the default) uses characters; `SentencePieceTokenizer` uses subword pieces
(unigram or BPE) trained on the training transcripts. Both travel in checkpoints.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from avseq.errors import AvseqError
from avseq.text.normalize import ALPHABET

_SPACES = re.compile(r"\s+")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "`": "'"})


class _Units:
    """What both tokenizers share: id 0 is the CTC blank; transcripts are normalized
    (`normalize_text`) and must only hold characters the units cover."""

    blank: int = 0
    _covered: set[str] | dict[str, int]  # the characters the units spell

    def normalize(self, text: str) -> str:
        """Lower-cases, straightens quotes and collapses whitespace."""
        return normalize_text(text)

    def invalid_chars(self, text: str) -> list[str]:
        """Characters of the normalized `text` that no unit covers."""
        return sorted({ch for ch in self.normalize(text) if ch not in self._covered})

    def encode(self, text: str) -> list[int]:
        """Normalizes and encodes a transcript.

        Raises:
            ValueError: naming the characters no unit covers, and what to do.
        """
        norm = self.normalize(text)
        bad = self.invalid_chars(norm)
        if bad:
            raise ValueError(self._uncovered_message(bad))
        return self._ids(norm)

    def _uncovered_message(self, bad: list[str]) -> str:
        raise NotImplementedError

    def _ids(self, norm: str) -> list[int]:
        raise NotImplementedError


class CharTokenizer(_Units):
    """Maps transcripts to character ids and back; its vocabulary travels in the checkpoint.

    Args:
        alphabet: the characters transcripts may hold (each once). Transcripts are lower-cased
            and whitespace is collapsed before encoding; any other character is an error.
    """

    # flashlight-text's name for the word boundary (the space character)
    word_boundary: str | None = "|"

    def __init__(self, alphabet: str = ALPHABET) -> None:
        if len(set(alphabet)) != len(alphabet) or not alphabet:
            raise ValueError(f"alphabet must list distinct characters, got {alphabet!r}")
        self.alphabet = alphabet
        self._index = {ch: i + 1 for i, ch in enumerate(alphabet)}
        self._covered = self._index

    @property
    def vocab_size(self) -> int:
        """Number of output classes including the blank."""
        return len(self.alphabet) + 1

    def _uncovered_message(self, bad: list[str]) -> str:
        return (
            f"transcript has characters outside the vocabulary: {bad!r} (the "
            f"vocabulary is {self.alphabet!r}); spell numbers out as words, "
            "or remove those characters"
        )

    def _ids(self, norm: str) -> list[int]:
        return [self._index[ch] for ch in norm]

    def decode(self, ids: list[int]) -> str:
        """Ids (blanks already removed) back to text."""
        return "".join(self.alphabet[i - 1] for i in ids if 0 < i <= len(self.alphabet))

    @property
    def units(self) -> list[str]:
        """Names of ids 1..vocab_size-1 for CTC beam search (the space is "|")."""
        return ["|" if ch == " " else ch for ch in self.alphabet]

    def spell(self, word: str) -> list[str]:
        """A lexicon word as unit names, ending with the word boundary."""
        return [*word, "|"]

    def word_groups(self, ids: Sequence[int]) -> list[list[int]]:
        """Positions in `ids` of each word's units (the spaces between words belong to none)."""
        space = self._index.get(" ")
        groups: list[list[int]] = [[]]
        for pos, i in enumerate(ids):
            if i == space:
                groups.append([])
            else:
                groups[-1].append(pos)
        return [g for g in groups if g]

    def describe(self) -> str:
        return f"characters {self.alphabet!r}"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "char", "alphabet": self.alphabet}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> CharTokenizer:
        if state.get("type") != "char" or not isinstance(state.get("alphabet"), str):
            raise ValueError(f"not a character tokenizer state: {state!r}")
        return cls(state["alphabet"])


WORD_START = "\u2581"  # SentencePiece's mark at the start of a word ("▁")


class SentencePieceTokenizer(_Units):
    """Subword units from a SentencePiece model (Kudo and Richardson, 2018): id 0 is the CTC
    blank, ids 1.. are the model's pieces (its `<unk>` first). Transcripts are normalized as
    for characters (lower case, straight quotes, single spaces) before encoding.

    Args:
        model: a serialized SentencePiece model (the bytes of a `.model` file).
    """

    word_boundary: str | None = None  # words start with "▁" inside pieces

    def __init__(self, model: bytes) -> None:
        import sentencepiece as spm

        self.model = bytes(model)
        try:
            self.sp = spm.SentencePieceProcessor(model_proto=self.model)
        except Exception as err:
            raise ValueError(f"not a SentencePiece model ({str(err)[:80]})") from None
        n = self.sp.get_piece_size()
        self._pieces = [self.sp.id_to_piece(i) for i in range(n)]
        self._covered = {
            ch
            for i, p in enumerate(self._pieces)
            if not (self.sp.is_unknown(i) or self.sp.is_control(i))
            for ch in p.replace(WORD_START, " ")
        } | {" "}
        self._starts = {i + 1 for i, p in enumerate(self._pieces) if p.startswith(WORD_START)}

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers, DDP processes
        return {"model": self.model}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["model"])

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        vocab_size: int = 256,
        model_type: str = "unigram",
    ) -> SentencePieceTokenizer:
        """Trains a model on normalized `texts` (every character they hold gets a piece).

        `vocab_size` is an upper bound: small text yields fewer pieces. One thread, so the
        same text gives the same model.
        """
        import io

        import sentencepiece as spm

        if model_type not in ("unigram", "bpe"):
            raise ValueError(f"SentencePiece model_type must be unigram or bpe, got {model_type!r}")
        lines = [t for t in (normalize_text(t) for t in texts) if t]
        if not lines:
            raise ValueError("no text to train the SentencePiece model on")
        out = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines),
            model_writer=out,
            vocab_size=vocab_size,
            model_type=model_type,
            character_coverage=1.0,
            hard_vocab_limit=False,
            normalization_rule_name="identity",
            bos_id=-1,
            eos_id=-1,
            unk_id=0,
            num_threads=1,
            minloglevel=2,
        )
        return cls(out.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> SentencePieceTokenizer:
        """Reads a `.model` file written by SentencePiece."""
        path = Path(path)
        try:
            return cls(path.read_bytes())
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: cannot read a SentencePiece model ({err})") from None

    @property
    def vocab_size(self) -> int:
        """Number of output classes including the blank."""
        return len(self._pieces) + 1

    @property
    def units(self) -> list[str]:
        """Names of ids 1..vocab_size-1 for CTC beam search: the pieces."""
        return list(self._pieces)

    def _uncovered_message(self, bad: list[str]) -> str:
        return (
            f"transcript has characters the SentencePiece model does not cover: {bad!r}; "
            "remove them or train the model on text that holds them"
        )

    def _ids(self, norm: str) -> list[int]:
        return [i + 1 for i in self.sp.encode(norm)]

    def decode(self, ids: list[int]) -> str:
        """Ids (blanks already removed) back to text."""
        return self.sp.decode([i - 1 for i in ids if 0 < i <= len(self._pieces)])

    def spell(self, word: str) -> list[str]:
        """A lexicon word as pieces (the first starts with "▁")."""
        return self.sp.encode(word, out_type=str)

    def word_groups(self, ids: Sequence[int]) -> list[list[int]]:
        """Positions in `ids` of each word's pieces: a word starts at each "▁" piece."""
        groups: list[list[int]] = []
        for pos, i in enumerate(ids):
            if i in self._starts or not groups:
                groups.append([])
            groups[-1].append(pos)
        return groups

    def describe(self) -> str:
        return f"SentencePiece model of {len(self._pieces)} pieces"

    def to_dict(self) -> dict[str, Any]:
        return {"type": "sentencepiece", "model": base64.b64encode(self.model).decode("ascii")}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> SentencePieceTokenizer:
        if state.get("type") != "sentencepiece" or not isinstance(state.get("model"), str):
            raise ValueError("not a SentencePiece tokenizer state")
        return cls(base64.b64decode(state["model"]))


Tokenizer = CharTokenizer | SentencePieceTokenizer


def normalize_text(text: str) -> str:
    """Lower case, straight quotes, single spaces: what every tokenizer encodes."""
    return _SPACES.sub(" ", text.translate(_QUOTES).lower()).strip()


def tokenizer_from_dict(state: dict[str, Any]) -> Tokenizer:
    """The tokenizer a checkpoint stored (`to_dict` of either kind)."""
    if not isinstance(state, dict):
        raise ValueError(f"not a tokenizer state: {state!r}")
    if state.get("type") == "sentencepiece":
        return SentencePieceTokenizer.from_dict(state)
    return CharTokenizer.from_dict(state)


TOKENIZER_KINDS = ("char", "sentencepiece")


def build_tokenizer(
    spec: dict[str, Any] | None, train_texts: Callable[[], Iterable[str]]
) -> Tokenizer:
    """The tokenizer a data config asks for.

    Args:
        spec: {"kind": "char"} (default), or {"kind": "sentencepiece", "vocab_size": 256,
            "model_type": "unigram" | "bpe", "model": null | "path/to/file.model"}: a
            given `.model` file is used as it is, otherwise one is trained on `train_texts()`.
        train_texts: the training transcripts (called only when a model is trained).
    """
    spec = dict(spec or {})
    kind = spec.pop("kind", "char")
    if kind not in TOKENIZER_KINDS:
        raise AvseqError(f"data.tokenizer.kind must be one of {TOKENIZER_KINDS}, got {kind!r}")
    if kind == "char":
        return CharTokenizer()
    vocab_size = spec.get("vocab_size", 256)
    if not isinstance(vocab_size, int) or isinstance(vocab_size, bool) or vocab_size < 2:
        raise AvseqError(f"data.tokenizer.vocab_size must be an integer >= 2, got {vocab_size!r}")
    try:
        if spec.get("model"):
            return SentencePieceTokenizer.load(spec["model"])
        return SentencePieceTokenizer.train(
            train_texts(), vocab_size, spec.get("model_type", "unigram")
        )
    except ValueError as err:
        raise AvseqError(f"data.tokenizer: {err}") from None
