"""Speech recognition with a trained checkpoint: THE decode path, used by `avseq transcribe`,
`avseq evaluate` and the benchmarks."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.nn.utils.rnn import pad_sequence

from avseq.decoding.align import WordTime, word_timestamps
from avseq.decoding.attention import joint_beam_search
from avseq.decoding.beam import greedy_search
from avseq.decoding.ctc import CTCBeamSearch, ctc_greedy_texts
from avseq.decoding.lexicon import read_lexicon
from avseq.errors import AvseqError
from avseq.media.audio import duration_seconds, iter_chunks, load_audio
from avseq.models.checkpoint import load_language_model, load_speech_model
from avseq.utils.device import pick_device
from avseq.utils.masks import frame_mask

log = logging.getLogger(__name__)


DECODERS = ("greedy", "ctc-beam", "attention", "joint")


def is_word_lm(path: str | Path | None) -> bool:
    """A KenLM word model (ARPA text or binary) rather than a language-model checkpoint."""
    return str(path or "").endswith((".arpa", ".bin"))


@dataclass
class DecodeOptions:
    """How transcripts are decoded.

    Args:
        decoder: "greedy" (best-path CTC; greedy attention for an attention-only model),
            "ctc-beam" (flashlight-text CTC beam search), "attention" (beam search with the
            attention decoder alone) or "joint" (attention beam search rescored with CTC
            prefix scores, weighted by `ctc_weight`).
        beam: beam width (default: 8 for "attention"/"joint"; "ctc-beam" 64, or 16 with a
            recurrent LM, whose per-prefix states make wide beams slow).
        lm: a language-model checkpoint (`avseq train experiment=speech_lm`) fused into the
            beam search, or a KenLM word model (.arpa/.bin; "ctc-beam" with a lexicon).
        lm_weight: the LM's weight (default: 1.0 for a word model, 0.5 for a recurrent LM;
            both tuned on the built-in validation split).
        ctc_weight: CTC's weight in "joint" decoding (1 = CTC prefix beam search).
        lexicon: a file of words (one per line, a manifest whose transcripts' words are
            taken, or an ARPA model) the "ctc-beam" output is restricted to; with an ARPA `lm`
            and no lexicon, the ARPA model's words.
        word_score: "ctc-beam": added per word; "attention"/"joint": added per token.
    """

    decoder: str = "greedy"
    beam: int | None = None
    lm: str | None = None
    lm_weight: float | None = None
    ctc_weight: float = 0.3
    lexicon: str | None = None
    word_score: float = 0.0

    def __post_init__(self) -> None:
        if self.decoder not in DECODERS:
            raise AvseqError(f"--decoder {self.decoder!r}: choose one of {', '.join(DECODERS)}")
        for option, given in (("--lm", self.lm), ("--lexicon", self.lexicon)):
            if given and not Path(given).is_file():
                kind = "a folder" if Path(given).is_dir() else "no such file"
                raise AvseqError(f"{option} {given}: {kind}; give the file's path")
        if not 0.0 <= self.ctc_weight <= 1.0:
            raise AvseqError(f"--ctc-weight {self.ctc_weight}: must be between 0 and 1")
        word_lm = is_word_lm(self.lm)
        if self.beam is None:
            if self.decoder == "ctc-beam":
                self.beam = 16 if self.lm and not word_lm else 64
            else:
                self.beam = 8
        if self.lm_weight is None:
            self.lm_weight = 1.0 if word_lm else 0.5
        if self.beam < 1:
            raise AvseqError(f"--beam {self.beam}: the beam width must be at least 1")
        if self.decoder == "greedy" and (self.lm or self.lexicon):
            raise AvseqError(
                "--lm and --lexicon need a beam search: add --decoder ctc-beam, attention or joint"
            )

    def describe(self) -> str:
        parts = [self.decoder]
        if self.decoder != "greedy":
            parts.append(f"beam {self.beam}")
        if self.decoder == "joint":
            parts.append(f"ctc_weight {self.ctc_weight}")
        if self.lexicon:
            parts.append("lexicon")
        if self.lm:
            parts.append(f"LM ({Path(self.lm).name}, weight {self.lm_weight})")
        if self.word_score:
            parts.append(f"word_score {self.word_score}")
        return ", ".join(parts)


@dataclass
class Decoded:
    """One transcript; `words` holds per-word times when asked for (None when the transcript
    could not be aligned), `attention` the decoder's (tokens + 1, frames) alignment."""

    text: str
    words: list[WordTime] | None = None
    attention: torch.Tensor | None = None


@dataclass
class Transcriber:
    """Transcription with a trained checkpoint: greedy or beam-search decoding, optional
    language model, word timestamps.

    Args:
        checkpoint: a speech .ckpt written by `avseq train`.
        device: "auto", "cpu", "cuda", "cuda:1", ...
        batch_size: waveforms decoded together.
        chunk_seconds: files longer than this are streamed in chunks of at most this length,
            cut in pauses (`iter_chunks`), so memory stays bounded for hours-long audio.
        options: how to decode (greedy by default).
        timestamps: also align each transcript to the audio (word start/end/confidence).
    """

    checkpoint: str | Path
    device: str = "auto"
    batch_size: int = 16
    chunk_seconds: float = 30.0
    options: DecodeOptions = field(default_factory=DecodeOptions)
    timestamps: bool = False
    attention: bool = False
    audio_seconds: float = field(default=0.0, init=False)
    compute_seconds: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise AvseqError(f"--batch-size {self.batch_size}: must be at least 1")
        if not self.chunk_seconds > 0:  # also refuses NaN
            raise AvseqError(
                f"--chunk-seconds {self.chunk_seconds}: must be a positive number of seconds"
            )
        self.torch_device = pick_device(self.device)
        self.model, self.tokenizer, self.meta = load_speech_model(
            self.checkpoint, self.torch_device
        )
        self.sample_rate = self.model.sample_rate
        self.ctc_trained = self.meta.get("ctc_weight", 1.0) > 0
        opts = self.options
        if opts.decoder in ("attention", "joint") and self.model.decoder is None:
            raise AvseqError(
                f"{self.checkpoint}: --decoder {opts.decoder} needs a model with an attention "
                "decoder (train one with experiment=speech_joint); use greedy or ctc-beam"
            )
        if not self.ctc_trained and opts.decoder in ("ctc-beam", "joint"):
            raise AvseqError(
                f"{self.checkpoint}: an attention-only model (ctc_weight 0) has no trained "
                f"CTC head for --decoder {opts.decoder}; use greedy or attention"
            )
        if self.timestamps and not self.ctc_trained:
            raise AvseqError(
                f"{self.checkpoint}: timestamps come from the CTC head, which this "
                "attention-only model did not train"
            )
        self.lm = None
        lm_path = opts.lm
        if lm_path and not is_word_lm(lm_path):
            self.lm = load_language_model(lm_path, self.tokenizer, self.torch_device)
        self._ctc_beam = None
        if opts.decoder == "ctc-beam":
            lexicon = read_lexicon(opts.lexicon, self.tokenizer) if opts.lexicon else None
            if lexicon is None and str(lm_path).endswith(".arpa"):
                lexicon = read_lexicon(lm_path, self.tokenizer)  # the ARPA model's words
            try:
                self._ctc_beam = CTCBeamSearch(
                    self.tokenizer,
                    opts.beam,
                    lexicon,
                    self.lm.cpu() if self.lm is not None else lm_path,
                    opts.lm_weight,
                    opts.word_score,
                )
            except ValueError as err:
                raise AvseqError(f"--decoder ctc-beam: {err}") from None
        elif opts.lexicon:
            raise AvseqError("--lexicon applies to --decoder ctc-beam only")
        elif lm_path and self.lm is None:
            raise AvseqError(
                f"--lm {lm_path}: a KenLM word model works with --decoder ctc-beam "
                "(its words are the lexicon); attention and joint decoding take an LM checkpoint"
            )

    def _decode(
        self, states: torch.Tensor, frames: torch.Tensor, logits: torch.Tensor
    ) -> list[tuple[str, torch.Tensor | None]]:
        """(text with single spaces, attention or None) per utterance."""
        return [(" ".join(t.split()), a) for t, a in self._search(states, frames, logits)]

    def _search(
        self, states: torch.Tensor, frames: torch.Tensor, logits: torch.Tensor
    ) -> list[tuple[str, torch.Tensor | None]]:
        opts, tok = self.options, self.tokenizer
        if opts.decoder == "greedy":
            if self.ctc_trained:
                return [(t, None) for t in ctc_greedy_texts(logits, frames, tok)]
            mask = frame_mask(frames, states.size(1))
            hyps = greedy_search(self.model.decoder, states, mask, max_len=frames)
            return [(tok.decode(h.tokens), h.attention) for h in hyps]
        if opts.decoder == "ctc-beam":
            return [(t, None) for t in self._ctc_beam(logits, frames)]
        ctc_weight = opts.ctc_weight if opts.decoder == "joint" else 0.0
        results = joint_beam_search(
            self.model,
            states,
            frames,
            logits,
            beam=opts.beam,
            ctc_weight=ctc_weight,
            lm=self.lm,
            lm_weight=opts.lm_weight if self.lm is not None else 0.0,
            length_bonus=opts.word_score,
            keep_attention=self.attention,
        )
        return [(tok.decode(r[0].tokens), r[0].attention) for r in results]

    @torch.inference_mode()
    def decode_waves(
        self, waves: list[torch.Tensor], offsets: list[float] | None = None
    ) -> list[Decoded]:
        """(T_i,) waveforms at the model rate -> transcripts, decoded in length-sorted batches
        (`offsets`: seconds added to the word times of each)."""
        order = sorted(range(len(waves)), key=lambda i: waves[i].numel())
        out: list[Decoded] = [Decoded("")] * len(waves)
        start = time.perf_counter()
        for b in range(0, len(order), self.batch_size):
            idx = order[b : b + self.batch_size]
            batch = pad_sequence([waves[i] for i in idx], batch_first=True).to(self.torch_device)
            lengths = torch.tensor([waves[i].numel() for i in idx], device=self.torch_device)
            states, frames = self.model.encode(batch, lengths)
            logits = self.model.head(states)
            decoded = self._decode(states, frames, logits)
            log_probs = logits.float().log_softmax(-1) if self.timestamps else None
            for j, (i, (text, att)) in enumerate(zip(idx, decoded, strict=True)):
                words = None
                if log_probs is not None:
                    words = word_timestamps(
                        log_probs[j],
                        int(frames[j]),
                        text,
                        self.tokenizer,
                        self.model.frame_seconds,
                        offsets[i] if offsets else 0.0,
                        waves[i].numel() / self.sample_rate,
                        wave=waves[i].cpu(),
                        sample_rate=self.sample_rate,
                    )
                out[i] = Decoded(text, words, att if self.attention else None)
        self.compute_seconds += time.perf_counter() - start
        self.audio_seconds += sum(w.numel() for w in waves) / self.sample_rate
        return out

    def transcribe_waves(self, waves: list[torch.Tensor]) -> list[str]:
        """(T_i,) waveforms at the model rate -> transcripts."""
        return [d.text for d in self.decode_waves(waves)]

    def transcribe_long(self, path: str | Path) -> Decoded:
        """A long file, streamed in chunks cut in its pauses and decoded `batch_size` chunks at
        a time; chunk transcripts are joined with spaces and word times are relative to the
        file's start."""
        parts: list[Decoded] = []
        pending: list[tuple[float, torch.Tensor]] = []
        for item in iter_chunks(path, self.sample_rate, self.chunk_seconds):
            pending.append(item)
            if len(pending) == self.batch_size:
                parts += self.decode_waves([w for _, w in pending], [o for o, _ in pending])
                pending = []
        if pending:
            parts += self.decode_waves([w for _, w in pending], [o for o, _ in pending])
        text = " ".join(p.text for p in parts if p.text)
        words = None
        if self.timestamps:
            words = [w for p in parts for w in (p.words or [])]
        return Decoded(text, words)

    def transcribe_files(
        self, paths: Iterable[str | Path]
    ) -> Iterator[tuple[str, Decoded | None, str | None]]:
        """Yields (path, transcript, error) per file in order; a bad file yields its error."""
        batch: list[tuple[str, torch.Tensor]] = []

        def flush() -> Iterator[tuple[str, Decoded | None, str | None]]:
            decoded = self.decode_waves([w for _, w in batch])
            yield from ((p, d, None) for (p, _), d in zip(batch, decoded, strict=True))
            batch.clear()

        for path in map(str, paths):
            try:
                if duration_seconds(path) > self.chunk_seconds:
                    yield from flush()
                    yield path, self.transcribe_long(path), None
                    continue
                batch.append((path, load_audio(path, self.sample_rate)))
            except AvseqError as err:
                yield from flush()
                yield path, None, str(err)
                continue
            if len(batch) == self.batch_size:
                yield from flush()
        yield from flush()
