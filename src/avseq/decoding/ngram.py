"""Word n-gram language model from transcripts: interpolated Kneser-Ney, written as an ARPA
file that CTC beam search loads through KenLM (`--decoder ctc-beam --lexicon ... --lm X.arpa`).

Written here because the field's builders (KenLM's `lmplz`, SRILM) are C++ programs that are
not pip-installable; a few thousand to a few million words of transcripts take seconds in
Python. When `lmplz` is installed, `build_word_lm` hands the text to it (large LM corpora).
Lower orders use continuation counts (how many distinct words precede an n-gram), one absolute
discount per order, D = n1 / (n1 + 2 n2), and the unigrams are interpolated with a
uniform distribution so every vocabulary word has a probability.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from avseq.errors import AvseqError
from avseq.text.reading import read_texts

BOS, EOS, UNK = "<s>", "</s>", "<unk>"


def _discount(counts: Counter) -> float:
    n1 = sum(1 for c in counts.values() if c == 1)
    n2 = sum(1 for c in counts.values() if c == 2)
    if n1 == 0 or n2 == 0:
        return 0.5
    return min(0.95, max(0.05, n1 / (n1 + 2 * n2)))


def kneser_ney(
    sentences: Iterable[list[str]], order: int = 3
) -> list[dict[tuple[str, ...], tuple[float, float]]]:
    """Interpolated Kneser-Ney n-gram model of word lists.

    Returns:
        per order n (index n-1): {n-gram: (log10 probability, log10 backoff weight)}.
    """
    if order < 1:
        raise ValueError(f"order must be >= 1, got {order}")
    raw: Counter = Counter()  # highest-order counts, plus every n-gram that starts with <s>
    vocab: set[str] = set()
    for words in sentences:
        if not words:
            continue
        vocab.update(words)
        padded = [BOS, *words, EOS]
        for n in range(1, order + 1):
            for i in range(len(padded) - n + 1):
                gram = tuple(padded[i : i + n])
                if n == order or gram[0] == BOS:
                    raw[gram] += 1
    if not vocab:
        raise ValueError("no words to build a language model from")
    # adjusted counts: raw for the top order and for n-grams that start with <s> (nothing can
    # precede them); otherwise the number of distinct words seen before the n-gram
    counts: list[Counter] = [Counter() for _ in range(order)]
    for gram, c in raw.items():
        counts[len(gram) - 1][gram] = c
    for n in range(order, 1, -1):
        for gram in counts[n - 1]:
            suffix = gram[1:]
            if suffix[0] != BOS:
                counts[n - 2][suffix] += 1
    counts[0].pop((BOS,), None)

    words = sorted(vocab | {EOS, UNK})
    model: list[dict[tuple[str, ...], tuple[float, float]]] = [{} for _ in range(order)]
    prob: list[dict[tuple[str, ...], float]] = [{} for _ in range(order)]
    gamma: list[dict[tuple[str, ...], float]] = [{} for _ in range(order)]
    for n in range(1, order + 1):
        table = counts[n - 1]
        d = _discount(table)
        totals: Counter = Counter()
        types: Counter = Counter()
        for gram, c in table.items():
            totals[gram[:-1]] += c
            types[gram[:-1]] += 1
        for ctx, total in totals.items():
            gamma[n - 1][ctx] = d * types[ctx] / total
        if n == 1:
            total, g = totals[()], gamma[0][()]
            for w in words:
                p = max(table.get((w,), 0) - d, 0) / total + g / len(words)
                prob[0][(w,)] = p
            continue
        for gram, c in table.items():
            ctx = gram[:-1]
            lower = _backed_off(prob, gamma, gram[1:])
            prob[n - 1][gram] = max(c - d, 0) / totals[ctx] + gamma[n - 1][ctx] * lower
    for n in range(1, order + 1):
        for gram, p in prob[n - 1].items():
            bow = gamma[n][gram] if n < order and gram in gamma[n] else 1.0
            model[n - 1][gram] = (math.log10(p), math.log10(bow))
    bos_bow = gamma[1].get((BOS,), 1.0) if order > 1 else 1.0
    model[0][(BOS,)] = (-99.0, math.log10(bos_bow))
    return model


def _backed_off(prob, gamma, gram: tuple[str, ...]) -> float:
    """p(w | h) from the orders below, backing off through contexts never seen."""
    n = len(gram)
    if gram in prob[n - 1]:
        return prob[n - 1][gram]
    return gamma[n - 1].get(gram[:-1], 1.0) * _backed_off(prob, gamma, gram[1:])


def write_arpa(model: list[dict[tuple[str, ...], tuple[float, float]]], path: str | Path) -> Path:
    """Writes the model in ARPA format, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    order = len(model)
    lines = ["", "\\data\\"]
    lines += [f"ngram {n}={len(model[n - 1])}" for n in range(1, order + 1)]
    for n in range(1, order + 1):
        lines += ["", f"\\{n}-grams:"]
        for gram in sorted(model[n - 1]):
            logp, bow = model[n - 1][gram]
            entry = f"{logp:.6f}\t{' '.join(gram)}"
            lines.append(entry + (f"\t{bow:.6f}" if n < order else ""))
    lines += ["", "\\end\\", ""]
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
    return path


def arpa_sizes(path: str | Path) -> list[int]:
    """The n-gram counts in an ARPA file's header, by order."""
    sizes = []
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("ngram "):
                sizes.append(int(line.split("=")[1]))
            elif line.startswith("\\1-grams:"):
                break
    return sizes


def _lmplz(lmplz: str, sentences: list[list[str]], output: Path, order: int) -> None:
    """KenLM's builder on the sentences (modified Kneser-Ney, written straight to ARPA)."""
    tmp = output.with_name(output.name + ".tmp")
    with tempfile.TemporaryFile("w+", encoding="utf-8") as text, open(tmp, "wb") as arpa:
        text.writelines(" ".join(words) + "\n" for words in sentences if words)
        text.seek(0)
        done = subprocess.run(
            [lmplz, "-o", str(order), "--discount_fallback"],
            stdin=text, stdout=arpa, stderr=subprocess.PIPE, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["failed"])[-1]
        raise AvseqError(f"{lmplz} failed: {last}")
    tmp.replace(output)


def build_word_lm(
    sources: Iterable[str | Path], output: str | Path, order: int, tokenizer, lmplz: str = "auto"
) -> tuple[list[int], int, str]:
    """Reads the sentences of manifests or text files (`read_texts`), builds their
    Kneser-Ney model and writes it to `output` as ARPA: with KenLM's `lmplz` when it is on
    PATH (`lmplz="auto"`; a path to use that one, "" for never), which takes text of any size
    in bounded memory; else in Python, in memory (BENCHMARKS.md: "Data at scale").

    Returns:
        (n-gram counts by order, sentences read, the builder used: "lmplz" or "python").
    """
    sentences = [t.split() for source in sources for t in read_texts(source, tokenizer)[0]]
    program = shutil.which("lmplz") if lmplz == "auto" else lmplz
    if program:
        _lmplz(program, sentences, Path(output), order)
        return arpa_sizes(output), len(sentences), "lmplz"
    model = kneser_ney(sentences, order)
    write_arpa(model, output)
    return [len(m) for m in model], len(sentences), "python"


def read_arpa_words(path: str | Path) -> list[str]:
    """The vocabulary of an ARPA file (its unigrams, without <s>, </s> and <unk>)."""
    words, in_unigrams = [], False
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if line.startswith("\\"):
                if in_unigrams:
                    break
                in_unigrams = line == "\\1-grams:"
                continue
            if in_unigrams and line:
                fields = line.split()
                if len(fields) >= 2 and fields[1] not in (BOS, EOS, UNK):
                    words.append(fields[1])
    return words


def sentence_log10prob(model, words: list[str]) -> float:
    """log10 P(sentence) under the model (with <s> and </s>), by ARPA back-off rules."""
    order = len(model)
    padded = [BOS, *words, EOS]
    total = 0.0
    for i in range(1, len(padded)):
        hist = tuple(padded[max(0, i - order + 1) : i])
        total += log10prob(model, hist, padded[i])
    return total


def log10prob(model, hist: tuple[str, ...], word: str) -> float:
    """log10 p(word | hist) by ARPA back-off rules (unknown words score as <unk>)."""
    gram = (*hist, word)
    if gram in model[len(gram) - 1]:
        return model[len(gram) - 1][gram][0]
    if not hist:
        return model[0][(UNK,)][0]
    bow = model[len(hist) - 1].get(hist, (0.0, 0.0))[1]
    return bow + log10prob(model, hist[1:], word)
