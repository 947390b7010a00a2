"""Transcripts from real corpora become the character alphabet, and each change is named."""

from __future__ import annotations

import pytest

from avseq.data.corpora.transcripts import Unusable, keep_whole, normalize_transcript


@pytest.mark.parametrize(
    ("text", "expected", "changes"),
    [
        ("HELLO WORLD", "hello world", ["case folded"]),
        (
            "Dr. Smith paid $5.50 for 3 apples & 2 pears!",
            "dr smith paid five dollars fifty cents for three apples and two pears",
            ["case folded", "symbols spelled out", "numbers spelled out", "punctuation removed"],
        ),
        ("on the 21st of May 1999", "on the twenty first of may nineteen ninety nine", None),
        (
            "in 2005 and 1905, the 1990s",
            "in two thousand five and nineteen oh five the nineteen nineties",
            None,
        ),
        (
            "1,000 people, 3.14 and 50%",
            "one thousand people three point one four and fifty percent",
            None,
        ),
        ("$2.5 million", "two point five million dollars", None),
        (
            "at 10:30 call 5551234567",
            "at ten thirty call five five five one two three four five six seven",
            None,
        ),
        ("Café naïve encyclopædia", "cafe naive encyclopaedia", ["case folded", "accents folded"]),
        ("HELLO <UNK> [noise] {COUGH} WORLD", "hello world", ["tags removed", "case folded"]),
        ("don’t stop-me, a+b @home", "don't stop me a plus b at home", None),
    ],
)
def test_normalize_spells_out_and_names_each_change(
    text: str, expected: str, changes: list[str] | None
) -> None:
    result, made = normalize_transcript(text)
    assert result == expected
    if changes is not None:
        assert made == changes


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("漢字です", "characters outside a-z, ' and space"),
        ("#1 ©", "characters outside a-z, ' and space"),
        ("<unk> ...", "empty transcript"),
    ],
)
def test_unusable_transcripts_say_why(text: str, reason: str) -> None:
    with pytest.raises(Unusable) as err:
        normalize_transcript(text)
    assert err.value.reason == reason


def test_numbers_are_not_read_in_english_for_other_languages() -> None:
    assert normalize_transcript("Où est-il ?", english=False)[0] == "ou est il"
    with pytest.raises(Unusable) as err:
        normalize_transcript("Il a 3 chats", english=False)
    assert "'3'" in err.value.detail


def test_keep_whole_only_collapses_whitespace() -> None:
    assert keep_whole("  Hello,  World 42! ") == "Hello, World 42!"
    with pytest.raises(Unusable):
        keep_whole("   ")
