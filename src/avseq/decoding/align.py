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
    wave: torch.Tensor | None = None,
    sample_rate: int = 16000,
) -> list[WordTime] | None:
    """Aligns `text` to one utterance's CTC log-probabilities (T, V) and returns its words with
    times (plus `offset` seconds), or None when the text cannot fit in the frames.

    A word runs from the first frame of its first character to the end of the last frame of
    its last character (at most `duration`, the audio's length, after `offset`). Given the
    utterance's `wave`, word edges at pauses are moved onto the speech (`snap_to_pauses`).
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
    spans = AF.merge_tokens(aligned[0], scores[0].exp())  # one span per token of `ids`
    out = []
    for word, group in zip(words, tokenizer.word_groups(ids), strict=True):
        first, final = spans[group[0]], spans[group[-1]]
        conf = sum(spans[i].score for i in group) / len(group)
        out.append(
            WordTime(
                word,
                offset + first.start * frame_seconds,
                min(last, offset + final.end * frame_seconds),
                float(conf),
            )
        )
    if wave is not None:
        segments = speech_segments(wave, sample_rate)
        if segments:
            out = snap_to_pauses(out, segments, offset)
    return out


def speech_segments(
    wave: torch.Tensor,
    sample_rate: int,
    min_pause: float = 0.15,
    min_speech: float = 0.05,
    min_contrast_db: float = 12.0,
) -> list[tuple[float, float]] | None:
    """Stretches of speech between pauses, from frame energy (20 ms windows, 10 ms hop): the
    threshold sits 30% of the way from the noise floor (10th percentile, in dB) to the speech
    level (95th). Pauses shorter than `min_pause` and blips shorter than `min_speech` seconds
    are ignored. None when the recording shows no pauses to speak of (less than
    `min_contrast_db` between floor and speech), e.g. continuous speech or heavy noise."""
    hop, win = int(0.01 * sample_rate), int(0.02 * sample_rate)
    wave = wave.float().flatten()
    if wave.numel() < win:
        return None
    frames = wave.unfold(0, win, hop)
    db = 10 * torch.log10(frames.pow(2).mean(-1) + 1e-10)
    floor, peak = torch.quantile(db, 0.10).item(), torch.quantile(db, 0.95).item()
    if peak - floor < min_contrast_db:
        return None
    loud = (db > floor + 0.3 * (peak - floor)).tolist()
    runs, start = [], None
    for i, on in enumerate([*loud, False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append([start * 0.01, i * 0.01 + 0.01])
            start = None
    merged: list[list[float]] = []
    for run in runs:
        if merged and run[0] - merged[-1][1] < min_pause:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    return [(a, min(b, wave.numel() / sample_rate)) for a, b in merged if b - a >= min_speech]


def snap_to_pauses(
    words: list[WordTime],
    segments: list[tuple[float, float]],
    offset: float = 0.0,
    skip_cost: float = 1.0,
) -> list[WordTime]:
    """Moves word boundaries that CTC alignment places in or across pauses onto the speech.

    CTC emits a word's characters as short spikes, often early or late, so aligned times are
    rough at the edges. Given the stretches of speech between pauses (`speech_segments`,
    seconds from `offset`), each word is given to one stretch, in order, by dynamic
    programming: cost = how far the word's aligned span lies outside the stretch (seconds),
    plus `skip_cost` for a stretch no word is given (noise). The first word of a stretch then
    starts where the speech starts and the last one ends where it ends; boundaries between
    words sharing a stretch keep their aligned times, clamped to it.
    """
    if not words or not segments:
        return words
    segs = [(offset + a, offset + b) for a, b in segments]
    n, k = len(words), len(segs)

    def cost(i: int, j: int) -> float:
        a, b = segs[j]
        return max(0.0, a - words[i].end, words[i].start - b)

    inf = float("inf")
    # dp[i][j]: best cost with word i in stretch j; back[i][j]: stretch of word i-1
    dp = [[inf] * k for _ in range(n)]
    back = [[0] * k for _ in range(n)]
    for j in range(k):
        dp[0][j] = cost(0, j) + skip_cost * j
    for i in range(1, n):
        best, arg = inf, 0  # min over j' < j of dp[i-1][j'] + skip_cost * (j - j' - 1)
        for j in range(k):
            if j > 0:
                cand = dp[i - 1][j - 1]
                best = min(best + skip_cost, cand)
                arg = j - 1 if best == cand else arg
            stay = dp[i - 1][j]
            if stay <= best:
                dp[i][j], back[i][j] = stay + cost(i, j), j
            else:
                dp[i][j], back[i][j] = best + cost(i, j), arg
    last = min(range(k), key=lambda j: dp[n - 1][j] + skip_cost * (k - 1 - j))
    home = [0] * n
    home[-1] = last
    for i in range(n - 1, 0, -1):
        home[i - 1] = back[i][home[i]]
    out = []
    for i, w in enumerate(words):
        a, b = segs[home[i]]
        first = i == 0 or home[i - 1] != home[i]
        final = i == n - 1 or home[i + 1] != home[i]
        start = a if first else min(max(w.start, a), b)
        end = b if final else min(max(w.end, a), b)
        if out and start < out[-1].end:
            start = out[-1].end
        out.append(WordTime(w.word, start, max(start, end), w.confidence))
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
