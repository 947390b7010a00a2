"""Reading sentences: the transcripts of a JSON-lines manifest, or a text file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from avseq.errors import AvseqError
from avseq.text.tokenizer import Tokenizer, normalize_text

log = logging.getLogger(__name__)


def read_texts(path: str | Path, tokenizer: Tokenizer | None) -> tuple[list[str], int]:
    """Normalized sentences from a JSON-lines manifest (its "text" fields) or a text file (one
    sentence per line). Lines that are empty, not JSON (manifests) or hold characters outside
    the vocabulary (of `tokenizer`, when given) are left out and counted.

    Returns:
        (sentences, number of lines left out).
    """
    path = Path(path)
    if not path.is_file():
        raise AvseqError(f"{path}: no such text file or manifest")
    manifest = path.suffix in (".jsonl", ".json")
    texts, bad = [], 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            if not raw.strip():
                continue
            text = raw
            if manifest:
                try:
                    text = json.loads(raw).get("text", "")
                except (json.JSONDecodeError, AttributeError):
                    bad += 1
                    continue
            norm = normalize_text(text) if isinstance(text, str) else ""
            if not norm or (tokenizer is not None and tokenizer.invalid_chars(norm)):
                bad += 1
                continue
            texts.append(norm)
    if not texts:
        raise AvseqError(f"{path}: no usable sentences (one per line, or a manifest's text)")
    if bad:
        log.warning("%s: left out %d line(s) that were empty or not encodable", path, bad)
    return texts, bad
