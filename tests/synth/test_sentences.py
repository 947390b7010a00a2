"""Text side of the synthetic corpus: normalization, number words, word list, sentences."""

from __future__ import annotations

import random
import re
from collections import Counter

import pytest

from avseq.data.synth import sentence_vocab
from avseq.data.synth.sentence_grammar import Grammar, _verb, grammar_vocabulary, with_article
from avseq.data.synth.sentence_vocab import (
    build_vocabulary,
    frequent_words,
    grammar_words,
    parse_sections,
    read_resource,
)
from avseq.data.synth.sentences import (
    COMMAND_TEMPLATES,
    NUMBER_TEMPLATES,
    SentenceGenerator,
    load_words,
)
from avseq.text.normalize import (
    ALPHABET,
    DIGIT_WORDS,
    NUMBER_WORDS,
    normalize_text,
    number_to_words,
)


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


def test_vocabulary(words: list[str]) -> None:
    assert 9_500 <= len(words) <= 11_000
    assert len(set(words)) == len(words)
    for w in words:
        assert w == normalize_text(w) and " " not in w, w
        assert len(w) > 1 or w in ("a", "i"), w
    assert sum("'" in w for w in words) >= 50  # contractions and possessives
    assert not set(words) & NUMBER_WORDS
    assert {"the", "because", "question", "i've", "weather", "beautiful"} <= set(words)
    assert not set(words) & set(parse_sections(read_resource("vocab_rules.txt"))["exclude"])


def test_vocabulary_file_is_what_the_script_writes(words: list[str]) -> None:
    wordfreq = pytest.importorskip("wordfreq")
    built, _ = build_vocabulary(wordfreq.top_n_list("en", 30_000), grammar_words())
    assert built == words


def test_frequent_words_rules() -> None:
    ranked = ["the", "The", "two", "x", "a", "dont", "don't", "were", "we're", "nfl", "ipod", "mug"]
    assert frequent_words(ranked, size=7) == ["the", "a", "don't", "were", "we're", "mug"]
    assert frequent_words(ranked, size=2) == ["the", "a"]


def test_inflection_and_articles() -> None:
    assert _verb("stop*") == _verb("stop*/stopped/stopped")
    stop, take, carry, make = (_verb(t) for t in ("stop*", "take/took/taken", "carry", "make"))
    assert (stop.s, stop.past, stop.ing) == ("stops", "stopped", "stopping")
    assert (take.s, take.past, take.pp, take.ing) == ("takes", "took", "taken", "taking")
    assert (carry.s, carry.past, make.ing) == ("carries", "carried", "making")
    assert [with_article(p) for p in ("apple", "useful tool", "hour", "old dog", "red box")] == [
        "an apple",
        "a useful tool",
        "an hour",
        "an old dog",
        "a red box",
    ]


def test_templates_and_grammar_only_use_listed_words(words: list[str]) -> None:
    assert len(COMMAND_TEMPLATES) >= 40
    vocab = set(words) | NUMBER_WORDS
    for template in COMMAND_TEMPLATES + NUMBER_TEMPLATES:
        literal = [w for w in template.split() if not w.startswith("{")]
        assert set(literal) <= vocab, template
    assert grammar_vocabulary() <= vocab, sorted(grammar_vocabulary() - vocab)[:10]


@pytest.fixture(scope="module")
def samples() -> list[tuple[str, str]]:
    rng = random.Random(1234)
    gen = SentenceGenerator()
    return [gen.sample_kind(rng) for _ in range(3000)]


def check_sentence(kind: str, s: str, vocab: set[str]) -> None:
    assert normalize_text(s) == s
    assert 2 <= len(s.split()) <= (20 if kind == "prose" else 15), s
    assert set(s.split()) <= vocab, s


def test_samples_are_normalized_and_in_vocabulary(samples, words: list[str]) -> None:
    vocab = set(words) | NUMBER_WORDS
    for kind, s in samples:
        check_sentence(kind, s, vocab)
    lengths = Counter(len(s.split()) for _, s in samples)
    assert min(lengths) == 2 and 15 < max(lengths) <= 20


WH_WORDS = ("what", "where", "when", "why", "how", "who", "which", "whose")
AUXILIARIES = ("is", "are", "am", "was", "were", "do", "does", "did", "have", "has")
QUESTION_START = {*WH_WORDS, *AUXILIARIES, "can", "could", "will", "should", "would"}


@pytest.mark.parametrize("kind", SentenceGenerator.KINDS)
def test_every_shape_gives_valid_sentences(kind: str, words: list[str]) -> None:
    weights = {f"{k}_prob": float(k == kind) for k in ("command", "number", "free")}
    weights |= {f"{k}_prob": float(k == kind) for k in ("prose", "question", "conversation")}
    gen = SentenceGenerator(digit_prob=float(kind == "digits"), **weights)
    rng, vocab = random.Random(kind), set(words) | NUMBER_WORDS
    out = [gen.sample_kind(rng) for _ in range(300)]
    assert {k for k, _ in out} == {kind}
    for _, s in out:
        check_sentence(kind, s, vocab)
    assert len({s for _, s in out}) > (0.3 if kind == "digits" else 0.6) * len(out)
    if kind == "question":
        assert all(s.split()[0] in QUESTION_START for _, s in out)


def test_agreement(samples) -> None:
    wrong = re.compile(
        r"\b(he|she) (are|am|were|have|do|don't)\b|\b(they|we|you) (is|am|was|has|does)\b"
        r"|\bi (is|are|has|does)\b|\ba (?!one\b)[aeio]"
    )
    bad = [s for kind, s in samples if kind != "free" and wrong.search(s)]
    assert not bad, bad[:5]


def test_mix_covers_each_shape(samples) -> None:
    share = Counter(k for k, _ in samples)
    gen = SentenceGenerator()
    for kind, weight in zip(gen.KINDS, gen.weights, strict=True):
        assert 0.5 * weight < share[kind] / len(samples) < 1.6 * weight, (kind, share)
    assert share["free"] < 0.1 * len(samples)
    texts = [s for _, s in samples]
    digit_words = {*DIGIT_WORDS, "oh"}
    digit_strings = [
        s
        for s in texts
        if sum(w in digit_words for w in s.split()) >= 3
        and not set(s.split()) & {"hundred", "thousand", "million"}
    ]
    assert len(digit_strings) > 0.06 * len(texts)
    assert any(" oh " in f" {s} " for s in digit_strings)
    assert any(s.startswith("it costs ") and s.endswith(" dollars") for s in texts)
    assert any(s.endswith(" lights") for s in texts)
    assert any(s.startswith("i think ") for s in texts)
    assert len(set(texts)) > 0.8 * len(texts)


def test_many_distinct_words(words: list[str]) -> None:
    rng, gen = random.Random(0), SentenceGenerator()
    seen = Counter(w for _ in range(20_000) for w in gen.sample(rng).split())
    assert set(seen) <= set(words) | NUMBER_WORDS
    assert len(seen) >= 0.45 * len(words)
    grammar_only = SentenceGenerator(command_prob=0, number_prob=0, digit_prob=0, free_prob=0)
    assert len({w for _ in range(5000) for w in grammar_only.sample(rng).split()}) > 1500


def test_grammar_is_deterministic() -> None:
    a, b = Grammar(), Grammar()
    ra, rb = random.Random(9), random.Random(9)
    assert [a.prose(ra) for _ in range(50)] == [b.prose(rb) for _ in range(50)]


def test_custom_words_and_weights() -> None:
    rng = random.Random(3)
    none = dict(command_prob=0, number_prob=0, prose_prob=0, question_prob=0, conversation_prob=0)
    gen = SentenceGenerator(["alpha", "beta", "gamma"], digit_prob=0, free_prob=1, **none)
    for _ in range(200):
        assert set(gen.sample(rng).split()) <= {"alpha", "beta", "gamma"}
    digits_only = SentenceGenerator(digit_prob=1, free_prob=0, **none)
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
        ("# header\napple\nBanana\n", 3),
        ("apple\npear\n\nplum\n", 3),
        ("apple\nice cream\n", 2),
        ("apple\nplum\napple\n", 3),
    ],
)
def test_load_words_names_the_bad_line(tmp_path, monkeypatch, content: str, line: int) -> None:
    (tmp_path / "resources").mkdir()
    (tmp_path / "resources" / "vocab.txt").write_text(content)
    monkeypatch.setattr(sentence_vocab, "files", lambda package: tmp_path)
    sentence_vocab._bundled_words.cache_clear()
    try:
        with pytest.raises(ValueError, match=f"line {line}"):
            load_words()
    finally:
        sentence_vocab._bundled_words.cache_clear()
