"""The words a lexicon-constrained beam search may output."""

from __future__ import annotations

from pathlib import Path

from avseq.decoding.ngram import read_arpa_words
from avseq.errors import AvseqError
from avseq.text.reading import read_texts
from avseq.text.tokenizer import Tokenizer


def read_lexicon(path: str | Path, tokenizer: Tokenizer) -> list[str]:
    """Words from a word list (one per line; anything after the first field is ignored), from
    the "text" fields of a JSON-lines manifest (normalized; transcripts the tokenizer cannot
    spell are skipped), or from an ARPA language model's unigrams."""
    path = Path(path)
    if not path.is_file():
        raise AvseqError(f"--lexicon {path}: no such file")
    if path.suffix == ".arpa":
        return sorted(read_arpa_words(path))
    if path.suffix in (".jsonl", ".json"):
        texts, _ = read_texts(path, tokenizer)
        return sorted({w for t in texts for w in t.split()})
    with open(path, encoding="utf-8", errors="replace") as f:
        return sorted({ln.split()[0].lower() for ln in f if ln.strip()})
