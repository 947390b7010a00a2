"""The speech benchmark's long-item batches (`--seconds`, `--preset deepspeech2`): the corpus's
utterances joined end to end into items of the asked length, with their transcripts."""

from __future__ import annotations

import json
from pathlib import Path

from avseq.bench.speech import load_batches
from avseq.config import load_config
from avseq.data.synth.speech import CorpusSpec

from ..end_to_end.test_speech import corpus_overrides


def test_joined_items_last_the_asked_seconds_and_keep_their_words(
    tiny_corpus: CorpusSpec,
) -> None:
    cfg = load_config(
        [
            "experiment=speech",
            *corpus_overrides(tiny_corpus),
            "data.batch_size=2",
            "data.num_workers=0",
            "data.augment=null",
        ]
    )
    batches, dm = load_batches(cfg, steps=2, seconds=12.0)
    manifest = Path(tiny_corpus.manifest("train"))
    lines = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    longest = max(e["duration"] for e in lines)
    words = {w for e in lines for w in e["text"].split()}
    assert longest < 12.0  # so every item below joins two or more utterances
    assert len(batches) == 2
    for batch in batches:
        assert batch["waves"].shape[0] == 2
        for i in range(2):
            seconds = int(batch["wave_lengths"][i]) / dm.sample_rate
            assert 12.0 <= seconds < 12.0 + longest * 1.2  # speed perturbation may lengthen one
            ids = batch["tokens"][i, : batch["token_lengths"][i]].tolist()
            text = dm.tokenizer.decode(ids)
            assert len(text.split()) >= 2 and set(text.split()) <= words
