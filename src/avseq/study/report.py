"""The study's write-up: `rnn_study.md`, `rnn_study.json` and small PNG figures in `figures/`
(three for the adding problem, one for the speech part), readable in two minutes."""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt

from avseq.study.report_common import COLORS, NAMES, save_figure, share, table
from avseq.study.speech_report import (
    SPEECH_FIGURE,
    plot_speech,
    speech_caveats,
    speech_section,
    speech_summary,
)
from avseq.utils.io import write_text_atomic

FIGURES = {
    "distance": "figures/rnn_gradient_vs_distance.png",
    "span": "figures/rnn_accuracy_vs_span.png",
    "clipping": "figures/rnn_clipping.png",
    "speech": SPEECH_FIGURE,
}


def label(row: dict[str, Any]) -> str:
    return ("Bi" if row["bidirectional"] else "") + NAMES[row["cell"]]


def rows_of(results: dict[str, Any], net: dict[str, Any], key: str = "grid") -> list[dict]:
    same = ("cell", "bidirectional")
    return [r for r in results[key] if all(r[k] == net[k] for k in same)]


def machine() -> str:
    """The CPU model and core count (Linux), else what `platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        names = []
    cpu = names[0] if names else platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores"


def plot_distance(results: dict[str, Any], path: Path) -> None:
    whens = list(dict.fromkeys(c["when"] for c in results["curves"]))
    fig, axes = plt.subplots(1, len(whens), figsize=(4.0 * len(whens), 3.1), sharey=True)
    for ax, when in zip(axes, whens, strict=True):
        for c in (c for c in results["curves"] if c["when"] == when):
            ax.plot(
                [d + 1 for d in c["distance"]],
                [max(v, 1e-30) for v in c["relative_norm"]],
                color=COLORS[c["cell"]],
                linestyle="--" if c["bidirectional"] else "-",
                label=label(c),
            )
        ax.set(xscale="log", yscale="log", title=when, xlabel="steps between h_t and the loss, + 1")
        ax.set_ylim(1e-30, 3)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("‖dL/dh_t‖ / ‖dL/dh_T‖")
    axes[-1].legend(fontsize=7, ncol=2)
    save_figure(fig, path)


def plot_spans(results: dict[str, Any], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(4.6, 3.1))
    for net in results["networks"]:
        rows = rows_of(results, net)
        ax.plot(
            [r["span"] for r in rows],
            [r["accuracy"] for r in rows],
            marker="o",
            color=COLORS[net["cell"]],
            linestyle="--" if net["bidirectional"] else "-",
            label=f"{label(net)} (h={net['hidden']})",
        )
    ax.axhline(results["solved_threshold"], color="grey", linewidth=0.8, linestyle=":")
    ax.set(xscale="log", xlabel="span T (steps)", ylabel="test accuracy (|error| < 0.1)")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    save_figure(fig, path)


def shown_lr(results: dict[str, Any]) -> float:
    """The learning rate of the loss-curve figure: the lowest at which every unclipped run
    diverged (else the highest tried)."""
    lrs = sorted({r["lr"] for r in results["clipping"]})
    unclipped = [r for r in results["clipping"] if not r["clip"]]
    bad = [lr for lr in lrs if all(r["diverged"] for r in unclipped if r["lr"] == lr)]
    return bad[0] if bad else lrs[-1]


def plot_clipping(results: dict[str, Any], path: Path) -> None:
    lr = shown_lr(results)
    fig, ax = plt.subplots(figsize=(4.6, 3.1))
    for run in (r for r in results["clipping"] if r["lr"] == lr):
        losses = [min(v, 1e6) if math.isfinite(v) else 1e6 for v in run["losses"]]
        ax.plot(
            range(1, len(losses) + 1),
            losses,
            color=COLORS[run["cell"]],
            linestyle="-" if run["clip"] else ":",
            label=f"{label(run)}, {'clipped' if run['clip'] else 'not clipped'}",
        )
    ax.set(yscale="log", xlabel="SGD step", ylabel="training MSE (capped at 1e6)")
    ax.set_title(f"SGD at lr {lr:g}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save_figure(fig, path)


def longest_learned(results: dict[str, Any], net: dict[str, Any]) -> int | None:
    learned = [
        r["span"] for r in rows_of(results, net) if r["accuracy"] >= results["solved_threshold"]
    ]
    return max(learned) if learned else None


def at_distance(curve: dict[str, Any], distance: int) -> float:
    """The relative gradient norm at the measured distance nearest `distance`."""
    i = min(range(len(curve["distance"])), key=lambda j: abs(curve["distance"][j] - distance))
    return curve["relative_norm"][i]


def markdown(results: dict[str, Any], host: str) -> str:
    size = results["size"]
    spans, probe = size["spans"], size["probe_span"]
    nets = results["networks"]
    speech = results.get("speech")
    took = f" ({speech['seconds'] / 60:.1f} of them on speech)" if speech else ""
    lines = [
        "# Gradient flow in RNN, LSTM and GRU (`avseq study gradients`)",
        "",
        f"{host}; device {results['device']}; {results['seconds'] / 60:.1f} minutes in all"
        f"{took}. The adding problem (`avseq.study.tasks`) at spans T = "
        f"{', '.join(map(str, spans))}. "
        f"Every network is the project's `RNNEncoder` (one layer) with a linear head, at most "
        f"{size['budget']} parameters; Adam at lr {size['lr']}, gradient norm clipped at 1, up "
        f"to {size['steps']} steps of {size['batch']} fresh sequences (stopping once 95% of a "
        f"check batch is right). Accuracy: share of {size['eval_items']} held-out sums "
        "predicted within 0.1 "
        "(predicting the mean, 1, scores about 0.19); a span counts as learned at "
        f"{results['solved_threshold']:.0%}. Spans beyond {size['curve_span']} are tried only "
        "by networks that learned the span before. One seed; one thread.",
        "",
        "## In short",
        "",
        *summary(results),
        "",
        "## Longest span learned, and the cost of a step",
        "",
    ]
    header = ["network", "hidden", "parameters", "longest T learned"]
    header += [f"accuracy T={t}" for t in spans] + [f"ms/step T={t}" for t in spans]
    rows = []
    for net in nets:
        grid = {r["span"]: r for r in rows_of(results, net)}
        tried = [grid.get(t) for t in spans]
        rows.append(
            [label(net), net["hidden"], net["parameters"], longest_learned(results, net) or "none"]
            + [f"{r['accuracy']:.1%} ({r['steps']} steps)" if r else "not tried" for r in tried]
            + [f"{r['ms_per_step']:.1f}" if r else "" for r in tried]
        )
    lines += table(header, rows)
    lines += ["", f"![accuracy against span]({FIGURES['span']})", ""]
    lines += [
        f"## The vanishing gradient, measured on T = {probe}",
        "",
        "‖dL/dh_t‖: the norm of the gradient of the loss with respect to the hidden state at "
        "step t, from autograd on the network itself (its encoder run step by step with its own "
        "weights, `SequenceRegressor.unrolled`), mean of 16 sequences, relative to the state the "
        "loss reads (bidirectional: the mean of the two directions, each at its own distance). "
        "0 means below float32's smallest normal number.",
        "",
    ]
    header = ["network", "weights", "distance 10", "distance 100", f"distance {probe - 1}"]
    rows = [
        [label(c), c["when"]] + [f"{at_distance(c, d):.1e}" for d in (10, 100, probe - 1)]
        for c in results["curves"]
    ]
    lines += table(header, rows)
    lines += ["", f"![gradient norm against distance]({FIGURES['distance']})", ""]
    lines += [
        f"## Exploding gradients and clipping (T = {size['clip_span']})",
        "",
        f"Plain SGD for {size['clip_steps']} steps, without clipping and with the gradient "
        f"norm clipped at {size['clip_norm']}. Diverged: a NaN/inf loss, or a mean loss over "
        "the last tenth of the steps above 10x the mean predictor's. The adding problem's "
        "first plateau is the mean predictor (MSE 0.167): plain SGD does not leave it in this "
        "many steps.",
        "",
    ]
    header = ["network", "SGD lr", "diverged without / with clipping", "final MSE without / with"]
    header += ["largest gradient norm without", "steps clipped"]
    rows = []
    for net in (n for n in nets if not n["bidirectional"]):
        runs = rows_of(results, net, "clipping")
        for lr in sorted({r["lr"] for r in runs}):
            off, on = (next(r for r in runs if r["lr"] == lr and r["clip"] == c) for c in (0, 1))
            rows.append(
                [
                    label(net),
                    f"{lr:g}",
                    f"{_yes(off['diverged'])} / {_yes(on['diverged'])}",
                    f"{_loss(off)} / {_loss(on)}",
                    f"{off['max_grad_norm']:.3g}",
                    f"{on['clipped_share']:.0%}",
                ]
            )
    lines += table(header, rows)
    lines += ["", f"![loss with and without clipping]({FIGURES['clipping']})", ""]
    if speech is not None:
        lines += speech_section(speech)
    lines += [
        "## Not in this study",
        "",
        "- Seeds: one per network; spans near a network's limit (an accuracy near "
        f"{results['solved_threshold']:.0%}) can fall either side with another seed.",
    ]
    if speech is None:
        lines.append("- The built-in speech corpus: left out of this run (`--no-speech`).")
    else:
        lines += speech_caveats(speech)
    return "\n".join(lines) + "\n"


def summary(results: dict[str, Any]) -> list[str]:
    """The key numbers, one bullet each."""
    size, nets = results["size"], results["networks"]
    spans, curve_span = size["spans"], size["curve_span"]
    learned = ", ".join(f"{label(n)} {longest_learned(results, n) or 'none'}" for n in nets)
    uni = [n for n in nets if not n["bidirectional"]]
    trained = [c for c in results["curves"] if c["when"] != "initial" and not c["bidirectional"]]
    flow = ", ".join(f"{label(c)} {share(at_distance(c, 100))}" for c in trained)
    initial = max(at_distance(c, 100) for c in results["curves"] if c["when"] == "initial")
    unclipped = [r for r in results["clipping"] if not r["clip"]]
    first_bad = []
    for n in uni:
        bad = [r["lr"] for r in unclipped if r["cell"] == n["cell"] and r["diverged"]]
        first_bad.append(f"{label(n)} {min(bad):g}" if bad else f"{label(n)} never")
    nan_clipped = sum(not math.isfinite(r["final_loss"]) for r in results["clipping"] if r["clip"])
    cost = [r for r in results["grid"] if r["span"] == curve_span and not r["bidirectional"]]
    speech = [speech_summary(results["speech"])] if results.get("speech") else []
    return [
        f"- Longest span learned (of {', '.join(map(str, spans))}): {learned}.",
        f"- Share of the gradient that reaches 100 steps back, after training on "
        f"T={curve_span}: {flow}; at initialization "
        + (f"at most {initial:.1e}." if initial > 0 else "it underflows to 0 for every cell."),
        f"- Plain SGD without clipping first diverged at lr: {', '.join(first_bad)}; with the "
        "gradient norm "
        f"clipped at {size['clip_norm']}, {nan_clipped} of "
        f"{sum(r['clip'] for r in results['clipping'])} runs reached NaN/inf.",
        f"- One training step at T={curve_span} (batch {size['batch']}): "
        + ", ".join(f"{label(r)} {r['ms_per_step']:.1f} ms" for r in cost)
        + ".",
        *speech,
    ]


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _loss(run: dict[str, Any]) -> str:
    if not math.isfinite(run["final_loss"]):
        return f"NaN/inf at step {run['steps_run']}"
    return f"{run['final_loss']:.3g}"


def write_report(results: dict[str, Any], output: Path, host: str | None = None) -> Path:
    """Writes output/rnn_study.md, output/rnn_study.json and the figures; returns the .md."""
    plot_distance(results, output / FIGURES["distance"])
    plot_spans(results, output / FIGURES["span"])
    plot_clipping(results, output / FIGURES["clipping"])
    if results.get("speech") is not None:
        plot_speech(results["speech"], output / FIGURES["speech"])
    write_text_atomic(output / "rnn_study.json", json.dumps(results) + "\n")
    report = output / "rnn_study.md"
    write_text_atomic(report, markdown(results, host or machine()))
    return report
