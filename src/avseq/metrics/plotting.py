"""Figures: attention alignments of the speech and caption decoders, saved atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch


def save_figure(fig, path: Path) -> None:
    """Writes `fig` to `path` (PNG) through a temporary file, then closes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100, bbox_inches="tight")
    plt.close(fig)
    tmp.replace(path)


def plot_speech_attention(audio_path: str, transcriber, decoded, path: Path) -> None:
    """Saves the log-mel spectrogram of `audio_path` above the decoder's attention: one row
    per output unit, a character or a piece (and one for end of sentence), over the encoder
    frames, both on the same time axis."""
    from avseq.media.audio import load_audio

    wave = load_audio(audio_path, transcriber.sample_rate)
    model = transcriber.model
    with torch.inference_mode():
        device = next(model.parameters()).device
        mel, _ = model.features(wave[None].to(device), torch.tensor([wave.numel()], device=device))
    mel = mel[0].float().cpu().numpy()
    seconds = wave.numel() / transcriber.sample_rate
    tok = transcriber.tokenizer
    units = tok.units
    space = tok.word_boundary
    rows = [("␣" if units[i - 1] == space else units[i - 1]) for i in tok.encode(decoded.text)]
    rows.append("<eos>")
    attention = decoded.attention[: len(rows)].float().numpy()
    rows = rows[: attention.shape[0]]
    width = min(40.0, max(6.0, 1.2 * seconds + 2))
    fig, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(width, 2.0 + 0.18 * len(rows)),
        sharex=True,
        gridspec_kw={"height_ratios": [1.6, 0.18 * len(rows) + 0.4]},
    )
    top.imshow(mel, origin="lower", aspect="auto", extent=(0, seconds, 0, mel.shape[0]))
    top.set_ylabel("mel bin")
    frames_s = attention.shape[1] * model.frame_seconds
    bottom.imshow(
        attention,
        aspect="auto",
        cmap="viridis",
        extent=(0, frames_s, len(rows) - 0.5, -0.5),
        interpolation="nearest",
    )
    bottom.set_yticks(range(len(rows)), rows, fontsize=8)
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("output unit")
    fig.suptitle(decoded.text or "(empty transcript)", fontsize=10)
    save_figure(fig, path)


def plot_caption_attention(
    frames: np.ndarray,
    words: list[str],
    attention: torch.Tensor,
    times: list[float],
    path: Path,
) -> None:
    """Saves the frames as thumbnails above a words x frames map of the decoder's attention
    (one row per generated word, and one for `<eos>`), atomically."""
    rows = [*words, "<eos>"][: attention.size(0)]
    weights = attention[: len(rows), : len(frames)].float().numpy()
    t = len(frames)
    width = max(6.0, 0.75 * t + 1.5)
    height = 0.9 + 0.32 * len(rows) + width / t
    fig = plt.figure(figsize=(width, height))
    grid = fig.add_gridspec(
        2,
        t + 1,
        height_ratios=[width / t, 0.32 * len(rows) + 0.5],
        width_ratios=[1.0] * t + [0.12],
        hspace=0.05,
        wspace=0.04,
    )
    for i in range(t):
        ax = fig.add_subplot(grid[0, i])
        ax.imshow(frames[i])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{times[i]:.1f}s", fontsize=7)
    ax = fig.add_subplot(grid[1, :t])
    image = ax.imshow(weights, aspect="auto", cmap="viridis", vmin=0, vmax=max(1e-6, weights.max()))
    ax.set_yticks(range(len(rows)), rows, fontsize=9)
    ax.set_xticks(range(t), [str(i + 1) for i in range(t)], fontsize=7)
    ax.set_xlabel("sampled frame (the thumbnails above)")
    fig.colorbar(image, cax=fig.add_subplot(grid[1, t]), label="attention")
    fig.suptitle(" ".join(words) or "(empty caption)", fontsize=10)
    save_figure(fig, path)
