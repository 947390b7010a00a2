"""Corpus transcripts to the character alphabet (a-z, apostrophe, space), saying what changed.

Each step that changes a transcript is named, so the prepare report can count and show them:
tags removed (`<unk>`, `[noise]`, `{COUGH}`), case folded, numbers spelled out (cardinals,
decimals, ordinals, years, decades), symbols spelled out (`%`, `&`, `+`, `@`, currencies),
accents folded (é -> e, æ -> ae) and punctuation removed. What is left outside the alphabet
makes the transcript unusable (`Unusable`), never silently deleted.
"""

from __future__ import annotations

import re
import unicodedata

from avseq.text.normalize import ALPHABET, DIGIT_WORDS, number_to_words

_ALLOWED = frozenset(ALPHABET)
_TAG = re.compile(r"<[^<>\s]*>|\[[^\[\]]*\]|\{[^{}]*\}")
_APOSTROPHES = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'", "´": "'"})
_NUMBER = r"\d+(?:,\d{3})*(?:\.\d+)?"
_CURRENCY = re.compile(
    rf"([$£€])\s?({_NUMBER})(?:\s?(thousand|million|billion|trillion)\b)?", re.IGNORECASE
)
_PERCENT = re.compile(rf"({_NUMBER})\s?%")
_NUMERAL = re.compile(rf"({_NUMBER})(?:(st|nd|rd|th|s)(?![a-z]))?")
_MONEY = {"$": ("dollar", "cent"), "£": ("pound", "penny"), "€": ("euro", "cent")}
_PLURAL = {"penny": "pence"}
_SYMBOLS = {
    "%": " percent ",
    "&": " and ",
    "+": " plus ",
    "@": " at ",
    "$": " dollars ",
    "£": " pounds ",
    "€": " euros ",
}
_LETTERS = str.maketrans({"ß": "ss", "æ": "ae", "œ": "oe", "ø": "o", "ł": "l", "đ": "d"})
_SEPARATORS = re.compile(r"[-_/\u2010-\u2015\s]+")
_ORDINALS = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


class Unusable(ValueError):
    """A transcript that cannot be written in the alphabet: `reason` names the kind of problem
    (what the report counts), `detail` the characters at fault."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail


def ordinal(words: str) -> str:
    """ "twenty one" -> "twenty first", "forty" -> "fortieth"."""
    *head, last = words.split()
    if last in _ORDINALS:
        last = _ORDINALS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def year_words(year: int) -> str:
    """A year as it is read: 1984 "nineteen eighty four", 1905 "nineteen oh five", 2005
    "two thousand five", 1900 "nineteen hundred"."""
    century, rest = divmod(year, 100)
    if 2000 <= year < 2010 or year % 1000 < 10:
        return number_to_words(year)
    if rest == 0:
        return f"{number_to_words(century)} hundred"
    tail = f"oh {DIGIT_WORDS[rest]}" if rest < 10 else number_to_words(rest)
    return f"{number_to_words(century)} {tail}"


def cardinal(digits: str) -> str:
    """A numeral as words: "1,000" "one thousand", "3.14" "three point one four", "007"
    "zero zero seven"; too long for `number_to_words` (phone numbers): digit by digit."""
    whole, _, frac = digits.replace(",", "").partition(".")
    if (len(whole) > 1 and whole.startswith("0")) or len(whole) > 9:
        words = " ".join(DIGIT_WORDS[int(d)] for d in whole)
    else:
        words = number_to_words(int(whole))
    if frac:
        words += " point " + " ".join(DIGIT_WORDS[int(d)] for d in frac)
    return words


def _numeral(match: re.Match) -> str:
    digits, suffix = match[1], (match[2] or "").lower()
    integer = "." not in digits and not digits.startswith("0")
    if digits.isdigit() and len(digits) == 4 and 1010 <= int(digits) <= 2099:
        words = year_words(int(digits))
    else:
        words = cardinal(digits)
    if suffix in ("st", "nd", "rd", "th") and integer:
        words = ordinal(words)
    elif suffix == "s" and integer:  # decades: "1990s", "80s"
        words = words[:-1] + "ies" if words.endswith("y") else words + "s"
    elif suffix:
        words += " " + suffix
    return f" {words} "


def _money(match: re.Match) -> str:
    unit, small = _MONEY[match[1]]
    amount, scale = match[2].replace(",", ""), (match[3] or "").lower()
    if scale:  # "$2.5 million": "two point five million dollars"
        return f" {cardinal(amount)} {scale} {unit}s "
    whole, _, frac = amount.partition(".")
    words = f"{cardinal(whole)} {unit}{'' if whole == '1' else 's'}"
    cents = int(frac[:2].ljust(2, "0")) if frac else 0
    if cents:
        words += (
            f" {cardinal(str(cents))} {small if cents == 1 else _PLURAL.get(small, small + 's')}"
        )
    return f" {words} "


def _fold_accents(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    return "".join(ch for ch in text if not unicodedata.combining(ch))


def _strip_punctuation(text: str) -> str:
    text = _SEPARATORS.sub(" ", text)
    text = "".join(" " if unicodedata.category(ch)[0] == "P" and ch != "'" else ch for ch in text)
    return " ".join(w for w in text.split() if w.strip("'"))  # lone quote marks go too


def normalize_transcript(text: str, english: bool = True) -> tuple[str, list[str]]:
    """A transcript in the character alphabet, and the names of the steps that changed it.

    Args:
        text: the corpus's transcript.
        english: spell numbers and symbols out in English words; otherwise they are left,
            and make the transcript unusable.

    Returns:
        (normalized text, changes), e.g. "It costs $5, 50% off!" ->
        ("it costs five dollars fifty percent off",
         ["case folded", "symbols spelled out", "punctuation removed"]).

    Raises:
        Unusable: when the result is empty or holds characters outside the alphabet.
    """
    changes: list[str] = []

    def step(name: str, new: str) -> str:
        if " ".join(new.split()) != " ".join(current.split()):
            changes.append(name)
        return new

    current = text.translate(_APOSTROPHES)
    current = step("tags removed", _TAG.sub(" ", current))
    current = step("case folded", current.lower())
    current = step("accents folded", _fold_accents(current))  # first: "²" -> "2" is then read
    if english:
        money = _PERCENT.sub(
            lambda m: f" {cardinal(m[1])} percent ", _CURRENCY.sub(_money, current)
        )
        symbols = "".join(_SYMBOLS.get(ch, ch) for ch in money)
        current = step("symbols spelled out", symbols)
        current = step("numbers spelled out", _NUMERAL.sub(_numeral, current))
    result = step("punctuation removed", _strip_punctuation(current))
    bad = sorted({ch for ch in result if ch not in _ALLOWED})
    if bad:
        raise Unusable("characters outside a-z, ' and space", str(bad))
    if not result:
        raise Unusable("empty transcript")
    return result, changes


def keep_whole(text: str) -> str:
    """A transcript kept as written (for subword units): whitespace collapsed only.

    Raises:
        Unusable: when nothing is left.
    """
    result = " ".join(text.split())
    if not result:
        raise Unusable("empty transcript")
    return result
