"""Transcript text: the character alphabet, normalization and number words."""

from __future__ import annotations

import re
import unicodedata

ALPHABET: str = "abcdefghijklmnopqrstuvwxyz' "

_ALLOWED = frozenset(ALPHABET)
_APOSTROPHES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'"})
_SEPARATORS = re.compile(r"[-_\u2010-\u2015\s]+")
_ONES = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
DIGIT_WORDS: tuple[str, ...] = _ONES[:10]
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
NUMBER_WORDS: frozenset[str] = frozenset(
    [*_ONES, *_TENS[2:], "hundred", "thousand", "million", "oh"]
)
"""Every word `number_to_words` and the digit phrases can produce ("oh" reads a zero digit)."""


def normalize_text(text: str) -> str:
    """Normalizes text to the transcript alphabet.

    Lowercases, maps curly apostrophes to "'", strips accents, turns hyphens, underscores and
    whitespace into spaces, drops every other character outside `ALPHABET`, collapses runs of
    spaces and strips the ends.

    Args:
        text: Arbitrary input text.

    Returns:
        The normalized text, e.g. "Don’t  STOP-me!" -> "don't stop me".
    """
    text = unicodedata.normalize("NFKD", text.translate(_APOSTROPHES).lower())
    text = _SEPARATORS.sub(" ", text)
    return " ".join("".join(ch for ch in text if ch in _ALLOWED).split())


def _below_thousand(n: int) -> list[str]:
    hundreds, rest = divmod(n, 100)
    words = [_ONES[hundreds], "hundred"] if hundreds else []
    if rest >= 20:
        words.append(_TENS[rest // 10])
        if rest % 10:
            words.append(_ONES[rest % 10])
    elif rest:
        words.append(_ONES[rest])
    return words


def number_to_words(n: int) -> str:
    """Spells out a non-negative integer in English words, without hyphens or "and".

    Args:
        n: Integer with 0 <= n < 1_000_000_000.

    Returns:
        The words, e.g. 105 -> "one hundred five", 2024 -> "two thousand twenty four".

    Raises:
        ValueError: If `n` is outside the supported range.
    """
    if not 0 <= n < 1_000_000_000:
        raise ValueError(f"number_to_words supports 0 <= n < 1000000000, got {n}")
    if n == 0:
        return "zero"
    words: list[str] = []
    for scale, name in ((1_000_000, "million"), (1_000, "thousand")):
        chunk, n = divmod(n, scale)
        if chunk:
            words += [*_below_thousand(chunk), name]
    return " ".join(words + _below_thousand(n))
