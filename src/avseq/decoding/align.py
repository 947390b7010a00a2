"""Word timestamps: CTC forced alignment of a transcript to the recognizer's CTC output
(`torchaudio.functional.forced_align`), and SubRip (.srt) subtitles."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torchaudio.functional as AF


@dataclass
class WordTime:
    """A word with its start and end in seconds and a confidence in [0, 1] (the mean CTC
    posterior of its characters at their aligned frames)."""

    word: str
    start: float
    end: float
    confidence: float

    def as_dict(self) -> dict:
        d = asdict(self)
        d["start"], d["end"] = round(self.start, 3), round(self.end, 3)
        d["confidence"] = round(self.confidence, 3)
        return d


def word_timestamps(
    log_probs: torch.Tensor,
    frames: int,
    text: str,
    tokenizer,
    frame_seconds: float,
    offset: float = 0.0,
    duration: float | None = None,
) -> list[WordTime] | None:
    """Aligns `text` to one utterance's CTC log-probabilities (T, V) and returns its words with
    times (plus `offset` seconds), or None when the text cannot fit in the frames.

    A word runs from the first frame of its first character to the end of the last frame of
    its last character (at most `duration`, the audio's length, after `offset`).
    """
    last = offset + (duration if duration is not None else frames * frame_seconds)
    words = text.split()
    if not words:
        return []
    ids = tokenizer.encode(" ".join(words))
    targets = torch.tensor([ids], dtype=torch.int32)
    emission = log_probs[None, :frames].float().cpu()
    try:
        aligned, scores = AF.forced_align(emission, targets, blank=tokenizer.blank)
    except RuntimeError:  # more tokens (with repeats) than frames
        return None
    spans = AF.merge_tokens(aligned[0], scores[0].exp())
    space = tokenizer.alphabet.index(" ") + 1
    out, current = [], []
    for span in [*spans, None]:
        if span is None or span.token == space:
            if current:
                word = words[len(out)]
                conf = sum(s.score for s in current) / len(current)
                out.append(
                    WordTime(
                        word,
                        offset + current[0].start * frame_seconds,
                        min(last, offset + current[-1].end * frame_seconds),
                        float(conf),
                    )
                )
                current = []
            continue
        current.append(span)
    return out


def _srt_time(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def srt_cues(
    words: list[WordTime], max_words: int = 10, max_seconds: float = 5.0, max_gap: float = 1.0
) -> list[tuple[float, float, str]]:
    """Groups timed words into subtitle cues: a new cue after `max_words` words, `max_seconds`
    of speech, or a pause longer than `max_gap` seconds."""
    cues: list[tuple[float, float, str]] = []
    group: list[WordTime] = []
    for w in words:
        if group and (
            len(group) >= max_words
            or w.end - group[0].start > max_seconds
            or w.start - group[-1].end > max_gap
        ):
            cues.append((group[0].start, group[-1].end, " ".join(g.word for g in group)))
            group = []
        group.append(w)
    if group:
        cues.append((group[0].start, group[-1].end, " ".join(g.word for g in group)))
    return cues


def to_srt(words: list[WordTime], **cue_options) -> str:
    """SubRip subtitles for timed words."""
    blocks = [
        f"{i}\n{_srt_time(start)} --> {_srt_time(end)}\n{text}\n"
        for i, (start, end, text) in enumerate(srt_cues(words, **cue_options), 1)
    ]
    return "\n".join(blocks)
