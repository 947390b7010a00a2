"""Text side of the synthetic corpus: normalization, number words, word list, sentences."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from avseq.data.synth.sentences import (
    COMMAND_TEMPLATES,
    NUMBER_TEMPLATES,
    SentenceGenerator,
    load_words,
)
from avseq.text.normalize import ALPHABET, NUMBER_WORDS, normalize_text, number_to_words

# Sets of words that sound the same; the word list may hold at most one of each.
HOMOPHONES = [
    ("there", "their", "they're"),
    ("write", "right", "rite"),
    ("sea", "see"),
    ("knew", "new"),
    ("hear", "here"),
    ("by", "buy", "bye"),
    ("whole", "hole"),
    ("weight", "wait"),
    ("meet", "meat"),
    ("week", "weak"),
    ("son", "sun"),
    ("night", "knight"),
    ("road", "rode", "rowed"),
    ("flower", "flour"),
    ("no", "know"),
    ("hour", "our"),
    ("its", "it's"),
    ("your", "you're"),
    ("we'll", "wheel"),
    ("peace", "piece"),
    ("pair", "pear"),
    ("pour", "poor"),
    ("be", "bee"),
    ("wood", "would"),
    ("mail", "male"),
    ("tail", "tale"),
    ("sale", "sail"),
    ("steal", "steel"),
    ("break", "brake"),
    ("blue", "blew"),
    ("there's", "theirs"),
    ("i'll", "aisle"),
    ("what", "watt"),
    ("let's", "lets"),
]
SOUNDS_LIKE_A_NUMBER = {"to", "too", "for", "fore", "won", "ate", "owe", "forte"}


@pytest.fixture(scope="module")
def words() -> list[str]:
    return load_words()


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "zero"),
        (7, "seven"),
        (10, "ten"),
        (15, "fifteen"),
        (19, "nineteen"),
        (20, "twenty"),
        (42, "forty two"),
        (99, "ninety nine"),
        (100, "one hundred"),
        (105, "one hundred five"),
        (110, "one hundred ten"),
        (999, "nine hundred ninety nine"),
        (1000, "one thousand"),
        (2024, "two thousand twenty four"),
        (10_001, "ten thousand one"),
        (300_050, "three hundred thousand fifty"),
        (1_000_000, "one million"),
        (2_000_300, "two million three hundred"),
        (
            999_999_999,
            "nine hundred ninety nine million nine hundred ninety nine thousand "
            "nine hundred ninety nine",
        ),
    ],
)
def test_number_to_words(n: int, expected: str) -> None:
    assert number_to_words(n) == expected


@pytest.mark.parametrize("n", [-1, 1_000_000_000, 5_000_000_000])
def test_number_to_words_out_of_range(n: int) -> None:
    with pytest.raises(ValueError, match=str(n)):
        number_to_words(n)


def test_number_words_are_normalized_and_closed() -> None:
    for n in list(range(1200)) + [10**k + 7 for k in range(3, 9)]:
        spoken = number_to_words(n)
        assert normalize_text(spoken) == spoken
        assert set(spoken.split()) <= NUMBER_WORDS


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Hello, World!", "hello world"),
        ("  Don’t   STOP-me_now\t\n ", "don't stop me now"),
        ("It‘s 3 o’clock; café—time?", "it's o'clock cafe time"),
        ("rock-n-roll__fan", "rock n roll fan"),
        ("!!! 123 ...", ""),
        ("", ""),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected
    assert set(normalize_text(raw)) <= set(ALPHABET)


def test_word_list(words: list[str]) -> None:
    assert len(words) >= 1000
    assert len(set(words)) == len(words)
    for w in words:
        assert w == normalize_text(w) and " " not in w and 1 <= len(w.replace("'", "")) <= 12, w
    assert sum("'" in w for w in words) >= 10  # contractions
    assert not set(words) & (NUMBER_WORDS | SOUNDS_LIKE_A_NUMBER)
    for group in HOMOPHONES:
        assert len(set(group) & set(words)) <= 1, group


def test_templates_only_use_listed_words(words: list[str]) -> None:
    assert len(COMMAND_TEMPLATES) >= 40
    vocab = set(words) | NUMBER_WORDS
    for template in COMMAND_TEMPLATES + NUMBER_TEMPLATES:
        literal = [w for w in template.split() if not w.startswith("{")]
        assert set(literal) <= vocab, template


@pytest.fixture(scope="module")
def samples() -> list[str]:
    rng = random.Random(1234)
    gen = SentenceGenerator()
    return [gen.sample(rng) for _ in range(2000)]


def test_samples_are_normalized_and_in_vocabulary(samples: list[str], words: list[str]) -> None:
    vocab = set(words) | NUMBER_WORDS
    for s in samples:
        assert normalize_text(s) == s
        assert 2 <= len(s.split()) <= 15, s
        assert set(s.split()) <= vocab, s


def test_samples_are_deterministic() -> None:
    gen = SentenceGenerator()
    a, b, c = random.Random(7), random.Random(7), random.Random(8)
    first = [gen.sample(a) for _ in range(300)]
    assert first == [SentenceGenerator().sample(b) for _ in range(300)]
    assert first != [gen.sample(c) for _ in range(300)]


def test_mix_has_digits_numbers_commands_and_variety(samples: list[str]) -> None:
    digit_words = {
        "zero",
        "oh",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
    }
    digit_strings = [
        s
        for s in samples
        if sum(w in digit_words for w in s.split()) >= 3
        and not set(s.split()) & {"hundred", "thousand", "million"}
    ]
    assert len(digit_strings) > 0.08 * len(samples)
    assert any(" oh " in f" {s} " for s in digit_strings)
    assert any(w in s.split() for s in samples for w in ("hundred", "thousand", "twenty"))
    assert any(s.startswith("it costs ") and s.endswith(" dollars") for s in samples)
    assert any(s.endswith(" lights") for s in samples)
    assert len(set(samples)) > 0.9 * len(samples)
    lengths = Counter(len(s.split()) for s in samples)
    assert min(lengths) == 2 and max(lengths) == 15


def test_vocabulary_is_used(words: list[str]) -> None:
    rng = random.Random(0)
    gen = SentenceGenerator()
    seen = {w for _ in range(20_000) for w in gen.sample(rng).split()}
    assert seen <= set(words) | NUMBER_WORDS, sorted(seen - set(words) - NUMBER_WORDS)
    assert len(seen & set(words)) >= 1000


def test_custom_words_and_weights() -> None:
    rng = random.Random(3)
    gen = SentenceGenerator(
        ["alpha", "beta", "gamma"], command_prob=0, number_prob=0, digit_prob=0, free_prob=1
    )
    for _ in range(200):
        assert set(gen.sample(rng).split()) <= {"alpha", "beta", "gamma"}
    digits_only = SentenceGenerator(command_prob=0, number_prob=0, digit_prob=1, free_prob=0)
    assert all(
        sum(w in NUMBER_WORDS for w in digits_only.sample(rng).split()) >= 3 for _ in range(100)
    )
    with pytest.raises(ValueError):
        SentenceGenerator(["Not Normalized"])
    with pytest.raises(ValueError):
        SentenceGenerator(command_prob=-1)


@pytest.mark.parametrize(
    ("content", "line"),
    [
        ("apple\nBanana\n", 2),
        ("apple\npear\n\nplum\n", 3),
        ("apple\nice cream\n", 2),
        ("apple\nplum\napple\n", 3),
    ],
)
def test_load_words_names_the_bad_line(tmp_path, monkeypatch, content: str, line: int) -> None:
    from avseq.data.synth import sentences as text

    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "words.txt").write_text(content)
    monkeypatch.setattr(text, "files", lambda package: tmp_path)
    text._bundled_words.cache_clear()
    try:
        with pytest.raises(ValueError, match=f"line {line}"):
            load_words()
    finally:
        text._bundled_words.cache_clear()
