"""The speech part's section of the study's report (`avseq.study.speech`): its table, its
figure (the gradient reach against the distance in frames, and the training loss), its bullet
of the summary and what it leaves out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from avseq.study.report_common import COLORS, NAMES, save_figure, share, table

SPEECH_FIGURE = "figures/rnn_speech_gradient_vs_distance.png"
SPEECH_DISTANCES = (10, 25, 50, 75)  # frames of 40 ms between the input and the output frame


def plot_speech(speech: dict[str, Any], path: Path) -> None:
    """The gradient reach against the distance in frames (initial dashed, trained solid), and
    the training loss (a moving mean over a twentieth of the steps)."""
    fig, (reach, loss) = plt.subplots(1, 2, figsize=(7.6, 2.9))
    for c in speech["curves"]:
        trained = c["when"] != "initial"
        reach.plot(
            c["distance"],
            [max(v, 1e-30) for v in c["relative_norm"]],
            color=COLORS[c["cell"]],
            linestyle="-" if trained else "--",
            linewidth=1.1,
            label=f"{NAMES[c['cell']]}, {'trained' if trained else 'initial'}",
        )
    reach.set(yscale="log", xlabel="frames between x_t and the output frame (40 ms)")
    reach.set_ylabel("‖d log p / dx_t‖ / at distance 0", fontsize=8)
    reach.set_ylim(max(1e-20, reach.get_ylim()[0]), 3)
    reach.grid(alpha=0.3)
    reach.legend(fontsize=7, ncol=2)
    for row in speech["cells"]:
        losses = row["losses"]
        k = max(1, len(losses) // 20)
        mean = [sum(losses[i : i + k]) / k for i in range(0, len(losses) - k + 1, k)]
        steps = [i + k for i in range(0, len(losses) - k + 1, k)]
        loss.plot(steps, mean, color=COLORS[row["cell"]], linewidth=1.1, label=NAMES[row["cell"]])
    loss.set(xlabel="optimizer step", ylabel="training CTC loss (per token)")
    loss.grid(alpha=0.3)
    loss.legend(fontsize=7)
    save_figure(fig, path)


def reach_limit(speech: dict[str, Any]) -> int:
    return min(c["distance"][-1] for c in speech["curves"])


def reach_at(curve: dict[str, Any], distance: int) -> str:
    """The relative gradient norm at `distance` frames, or "" where it was not measured."""
    if distance > curve["distance"][-1]:
        return ""
    return f"{curve['relative_norm'][distance]:.1e}"


def speech_section(speech: dict[str, Any]) -> list[str]:
    """The table and figure of the speech part (`avseq.study.speech`)."""
    size = speech["size"]
    distances = [d for d in SPEECH_DISTANCES if d <= reach_limit(speech)]
    probes = ", ".join(f"{s:g}" for s in speech["probe_seconds"])
    lines = [
        "## The same cells on the built-in speech corpus",
        "",
        f"The speech recipe's recognizer (`experiment=speech`: {size['mels']} log-mel bands, "
        f"4x convolutional subsampling to {size['inputs']} features per 40 ms frame, a "
        f"{size['layers']}-layer bidirectional `RNNEncoder`, a CTC head) with each cell's "
        f"encoder at most {size['budget']:,} parameters, all from the same seed. Each trains "
        f"{size['steps']} AdamW steps (peak lr {speech['lr']:g}, the recipe's warmup and cosine "
        f"decay fitted to the run, gradient norm clipped at {speech['clip']:g}) on the same "
        f"batches of {size['batch']} utterances of `{speech['corpus']}` "
        f"({speech['train_utterances']:,} training utterances; SpecAugment and SortaGrad as in "
        "the recipe, so these steps see its shortest utterances first; no waveform "
        "augmentation). CER: greedy CTC decoding of the first "
        f"{speech['eval_utterances']} validation utterances (before training / after). "
        "Gradient reach: for the middle output frame c of each of the "
        f"{len(speech['probe_seconds'])} longest validation utterances ({probes} s), the norm "
        "of the gradient of that frame's log-probability of its best token with respect to "
        "the encoder's input at frame t (autograd on the recognizer), at distance |t - c| "
        "(mean of both sides and of the utterances), relative to distance 0. "
        f"{speech['threads']} CPU threads.",
        "",
    ]
    header = ["cell", "hidden", "encoder parameters (whole model)", "steps", "final train loss"]
    header += ["val CER before / after", "ms/step"]
    header += [f"gradient share at {d} frames, initial / trained" for d in distances]
    rows = []
    for row in speech["cells"]:
        init, trained = (
            next(c for c in speech["curves"] if c["cell"] == row["cell"] and c["when"] == w)
            for w in ("initial", "trained")
        )
        rows.append(
            [
                NAMES[row["cell"]],
                row["hidden"],
                f"{row['parameters']:,} ({row['model_parameters']:,})",
                row["steps"],
                f"{row['final_loss']:.2f}",
                f"{row['initial_cer']:.1%} / {row['cer']:.1%}",
                f"{row['ms_per_step']:.0f}",
            ]
            + [f"{reach_at(init, d)} / {reach_at(trained, d)}" for d in distances]
        )
    lines += table(header, rows)
    lines += [
        "",
        "Final train loss: the mean CTC loss per token over the last tenth of the steps. 0 "
        "means below float32's smallest normal number.",
        "",
        f"![speech: gradient reach and training loss]({SPEECH_FIGURE})",
        "",
    ]
    return lines


def speech_summary(speech: dict[str, Any]) -> str:
    """The speech part in one bullet: CER, gradient reach and cost per cell."""
    size, rows = speech["size"], speech["cells"]
    limit = reach_limit(speech)
    d = max((d for d in SPEECH_DISTANCES if d <= 50 and d <= limit), default=limit)
    curves = {(c["cell"], c["when"]): c for c in speech["curves"]}
    initial = max(curves[r["cell"], "initial"]["relative_norm"][d] for r in rows)
    before = [r["initial_cer"] for r in rows]
    return (
        f"- Built-in speech corpus, {size['steps']} steps, bidirectional encoders of at most "
        f"{size['budget']:,} parameters: greedy validation CER "
        + ", ".join(f"{NAMES[r['cell']]} {r['cer']:.1%}" for r in rows)
        + f" (before training {min(before):.0%}-{max(before):.0%}); share of an output "
        f"frame's gradient reaching the input {d} frames away, trained: "
        + ", ".join(
            f"{NAMES[r['cell']]} {share(curves[r['cell'], 'trained']['relative_norm'][d])}"
            for r in rows
        )
        + f" (at initialization at most {share(initial)}); ms per step: "
        + ", ".join(f"{NAMES[r['cell']]} {r['ms_per_step']:.0f}" for r in rows)
        + "."
    )


def speech_caveats(speech: dict[str, Any]) -> list[str]:
    """The speech part's lines of "Not in this study"."""
    return [
        f"- Speech: one seed and {speech['size']['steps']} steps, short of what the "
        "recipe trains (its 3x256 BiGRU gets about 1,300 steps in `make train-speech`): "
        "the CERs show how the cells start, not where they end. Longer runs: "
        '`make train-speech ARGS="model.net.encoder.rnn_type=lstm"` (rnn, lstm, gru), whose '
        "`grad/*` metrics (`avseq.gradient_monitor`) log each layer's gradient norm.",
        f"- Speech: the gradient reach beyond {reach_limit(speech)} frames (half the "
        "shortest probe utterance) is not measured.",
    ]
