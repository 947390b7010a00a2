"""Vocabulary of the synthetic corpus: about 10,000 frequent English words.

`resources/vocab.txt` holds the words, most frequent first. `python -m
avseq.data.synth.sentence_vocab` writes it from the English frequency list of the wordfreq
package (pinned at wordfreq==3.1.1; its code is licensed Apache-2.0, its word-frequency data
CC BY-SA 4.0, so vocab.txt, derived from that data, is CC BY-SA 4.0 as well): the most frequent
words that `normalize_text` leaves unchanged, minus number words (`number_to_words` and the
digit phrases produce those), single letters other than "a" and "i", and the abbreviations,
acronyms and profanity named in `resources/vocab_rules.txt`; then every word the sentence
grammar and templates use that is not among them yet. Only the generation needs wordfreq;
reading the list does not.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from functools import cache
from importlib.resources import files
from pathlib import Path

from avseq.text.normalize import NUMBER_WORDS, normalize_text

VOCAB_SIZE = 10_000
"""Number of words taken from wordfreq (the grammar's own words may add a few more)."""

_HEADER = """\
# Frequent English words, most frequent first, one per line. Written by
# `python -m avseq.data.synth.sentence_vocab` from the wordfreq 3.1.1 English list
# (https://github.com/rspeer/wordfreq); word-frequency data CC BY-SA 4.0, so this list is
# CC BY-SA 4.0 too. The last {extra} words are those of the sentence grammar not in the list.
"""


def read_resource(name: str) -> str:
    """Text of a bundled file in `avseq/data/synth/resources/`."""
    return (files("avseq.data.synth") / "resources" / name).read_text(encoding="utf-8")


def parse_sections(text: str) -> dict[str, tuple[str, ...]]:
    """Parses "name: item item ..." lines (continued by lines starting with two spaces).

    Lines starting with "#" and blank lines are skipped; "_" in an item stands for a space.
    """
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    sections: dict[str, tuple[str, ...]] = {}
    for line in "\n".join(lines).replace("\n  ", " ").splitlines():
        name, sep, items = line.partition(":")
        if not sep or name.strip() in sections:
            raise ValueError(f"bad or repeated section line {line[:40]!r}")
        sections[name.strip()] = tuple(item.replace("_", " ") for item in items.split())
    return sections


@cache
def _bundled_words() -> tuple[str, ...]:
    seen: dict[str, int] = {}
    for number, line in enumerate(read_resource("vocab.txt").splitlines(), start=1):
        if line.startswith("#"):
            continue
        if not line or " " in line or normalize_text(line) != line:
            raise ValueError(f"vocab.txt line {number}: {line!r} is not one normalized word")
        if line in seen:
            raise ValueError(f"vocab.txt line {number}: {line!r} repeats line {seen[line]}")
        seen[line] = number
    return tuple(seen)


def load_words() -> list[str]:
    """Reads the bundled vocabulary (one normalized word per line, most frequent first).

    Returns:
        The words, without duplicates.

    Raises:
        ValueError: Naming the line number of an empty, unnormalized or repeated line.
    """
    return list(_bundled_words())


_CONTRACTED = {"that", "he", "she", "it", "there", "what", "here", "who", "where", "how", "let"}


def _is_contraction(word: str) -> bool:
    head, _, tail = word.partition("'")
    return tail != "s" or head in _CONTRACTED


def frequent_words(ranked: Iterable[str], size: int = VOCAB_SIZE) -> list[str]:
    """The first `size` words of a frequency-ranked list that pass the vocabulary rules.

    Args:
        ranked: Words, most frequent first (e.g. `wordfreq.top_n_list("en", n)`).
        size: How many words to keep.

    Returns:
        Normalized single words, in the order of `ranked`.
    """
    rules = parse_sections(read_resource("vocab_rules.txt"))
    short, exclude = set(rules["short"]), set(rules["exclude"])
    ranked = [w for w in dict.fromkeys(ranked) if w and normalize_text(w) == w and " " not in w]
    # "dont" beside "don't" is a spelling without the apostrophe; "were" beside "we're" is not
    unapostrophed = {w.replace("'", ""): w for w in ranked if "'" in w and _is_contraction(w)}
    keep = {"were", "well", "ill", "hell", "shell", "shed", "wed", "its", "lets"}
    words = []
    for w in ranked:
        letters = w.replace("'", "")
        if w in NUMBER_WORDS or w in exclude or not any(c in "aeiouy" for c in letters):
            continue
        if len(w) <= 3 and w not in short:
            continue
        if w in unapostrophed and w not in keep:
            continue
        words.append(w)
        if len(words) == size:
            break
    return words


def build_vocabulary(ranked: Iterable[str], extra: Iterable[str]) -> tuple[list[str], int]:
    """`frequent_words(ranked)` followed by the words of `extra` it lacks (number words aside).

    Returns:
        The words and how many of them came from `extra`.
    """
    words = frequent_words(ranked)
    known = set(words) | NUMBER_WORDS
    added = sorted({w for w in extra if w not in known})
    bad = [w for w in added if normalize_text(w) != w or " " in w]
    if bad:
        raise ValueError(f"grammar words must be normalized single words, got {bad[:5]}")
    return words + added, len(added)


def grammar_words() -> set[str]:
    """Every word the sentence templates and the grammar can produce, besides free words."""
    from avseq.data.synth.sentence_grammar import grammar_vocabulary
    from avseq.data.synth.sentences import template_vocabulary

    return grammar_vocabulary() | template_vocabulary()


def main(argv: list[str] | None = None) -> None:
    """Writes resources/vocab.txt (needs `pip install wordfreq==3.1.1`)."""
    import wordfreq

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument(
        "--out", type=Path, default=Path(str(files("avseq.data.synth"))) / "resources/vocab.txt"
    )
    args = parser.parse_args(argv)
    words, extra = build_vocabulary(wordfreq.top_n_list("en", 3 * VOCAB_SIZE), grammar_words())
    args.out.write_text(_HEADER.format(extra=extra) + "\n".join(words) + "\n", encoding="utf-8")
    print(f"wrote {len(words)} words ({extra} from the grammar) to {args.out}")


if __name__ == "__main__":
    main()
