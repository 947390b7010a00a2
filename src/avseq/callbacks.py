"""Lightning callbacks of the speech recipes."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import Callback

from avseq.decoding.ngram import build_word_lm
from avseq.errors import AvseqError

log = logging.getLogger(__name__)


class WordNgram(Callback):
    """Writes a word n-gram LM of the training transcripts (ARPA, `avseq word-lm`) beside the
    checkpoints when training ends, so the run can be decoded with a lexicon and word LM
    (`avseq evaluate --decoder ctc-beam --lm RUN/words-3gram.arpa`) without another step.
    Pure Python: about 2 s for the built-in corpus's 15k transcripts, minutes for millions;
    turn it off with `callbacks.word_lm=null`. A failure is logged, never fatal.

    Args:
        output: the .arpa file to write.
        order: the n-gram order.
    """

    def __init__(self, output: str, order: int = 3) -> None:
        self.output = Path(output)
        self.order = order

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        manifest = getattr(trainer.datamodule, "manifests", {}).get("train")
        if manifest is None or not Path(manifest).is_file():
            return
        start = time.perf_counter()
        try:
            _, sentences = build_word_lm(
                [manifest], self.output, self.order, trainer.datamodule.tokenizer
            )
        except (AvseqError, MemoryError, OSError, ValueError) as err:  # the checkpoints stand
            log.warning("no word LM written (%s); build one with `avseq word-lm`", err)
            return
        log.info(
            "word %d-gram LM of %d training transcripts: %s (%.1f s)",
            self.order,
            sentences,
            self.output,
            time.perf_counter() - start,
        )
