"""The `avseq generate` and `avseq study` commands: text from the language model, and the
experiments that measure the recurrent networks themselves."""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from avseq.study.speech import SpeechParts, SpeechSize


def finite_at_least_zero(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def add_research_parsers(sub: argparse._SubParsersAction) -> None:
    """The `generate` and `study` subcommands of `avseq`."""
    from avseq.cli.parser import at_least

    gen = sub.add_parser(
        "generate",
        help="sample sentences from a language model checkpoint (experiment=speech_lm), "
        "one line per sample",
    )
    gen.add_argument("--checkpoint", required=True, help="a speech_lm .ckpt")
    gen.add_argument("--prompt", default="", help="text the samples start with (default none)")
    gen.add_argument(
        "--temperature",
        type=finite_at_least_zero,
        default=1.0,
        help="divides the log-probabilities: < 1 safer, > 1 more varied, 0 greedy (default 1)",
    )
    gen.add_argument(
        "--top-k",
        type=at_least(0),
        default=0,
        help="sample among the k most likely units only (default 0: all; 1: greedy)",
    )
    gen.add_argument("--num", type=at_least(1), default=1, help="samples to write (default 1)")
    gen.add_argument(
        "--max-chars",
        type=at_least(1),
        default=200,
        help="a sample stops after this many characters (default 200)",
    )
    gen.add_argument(
        "--seed", type=int, default=0, help="the same seed gives the same samples (default 0)"
    )
    gen.add_argument("--device", default="cpu", help="cpu (default), auto, cuda, cuda:N")

    st = sub.add_parser(
        "study",
        help="measure the recurrent networks: `avseq study gradients` trains RNN, LSTM and GRU "
        "on the adding problem and on the built-in speech corpus and writes a report (gradient "
        "flow, spans learned, clipping, CER)",
    )
    st.add_argument("name", choices=["gradients"], help="the study")
    st.add_argument(
        "--size",
        choices=["tiny", "cpu", "gpu"],
        default="cpu",
        help="cpu: about 11 minutes on 2 cores (default); gpu: longer spans and training; "
        "tiny: seconds, a smoke test",
    )
    st.add_argument(
        "--no-speech",
        action="store_true",
        help="leave out the speech part (which needs the corpus of `make data-speech`)",
    )
    st.add_argument(
        "--speech-config",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="config overrides for the speech part, as for `avseq train` (e.g. another "
        "built-in corpus: data.corpus.root=DIR data.corpus.train_hours=0.5)",
    )
    st.add_argument("--output", default="runs/study_rnn", help="the report folder")
    st.add_argument("--spans", type=at_least(2), nargs="+", help="spans T to train on")
    st.add_argument("--steps", type=at_least(1), help="training steps per network and span")
    st.add_argument("--budget", type=at_least(50), help="parameters per network")
    st.add_argument(
        "--probe-span", type=at_least(2), help="span of the gradient-vs-distance curves"
    )
    st.add_argument("--seed", type=int, default=0)
    st.add_argument("--device", default="cpu", help="cpu (default), auto, cuda, cuda:N")


def cmd_generate(args: argparse.Namespace) -> int:
    from avseq.inference.generate import SamplingOptions, TextGenerator
    from avseq.utils.device import pick_device

    options = SamplingOptions(args.temperature, args.top_k, args.max_chars)
    generator = TextGenerator.from_checkpoint(args.checkpoint, pick_device(args.device))
    for line in generator.generate(args.prompt, args.num, args.seed, options):
        print(line, flush=True)
    return 0


def cmd_study(args: argparse.Namespace) -> int:
    from dataclasses import replace
    from pathlib import Path

    from avseq.errors import AvseqError
    from avseq.study.gradients import run_study, sized
    from avseq.study.report import write_report
    from avseq.utils.device import pick_device

    spans = tuple(args.spans) if args.spans else None
    size = sized(
        args.size, spans=spans, steps=args.steps, budget=args.budget, probe_span=args.probe_span
    )
    if args.no_speech:
        if args.speech_config:
            raise AvseqError("--speech-config is for the speech part, which --no-speech leaves out")
        size = replace(size, speech=None)
    parts = None
    if size.speech is not None:
        size = replace(size, speech=replace(size.speech, overrides=tuple(args.speech_config)))
        parts = speech_parts(size.speech)  # the corpus checked before the adding problem runs
    results = run_study(size, pick_device(args.device), args.seed, parts)
    report = write_report(results, Path(args.output))
    print(report.read_text(encoding="utf-8"))
    print(f"report: {report}")
    return 0


def speech_parts(size: SpeechSize) -> SpeechParts:
    """The speech recipe's parts for the study's speech part, composed from the configs: its
    data module (set up, once `check_corpus` finds the corpus), each cell's task, and the
    training step's loss of the speech benchmark (`avseq.bench.speech.ctc_step`)."""
    from hydra.utils import instantiate

    from avseq.bench.speech import ctc_step
    from avseq.config import load_config
    from avseq.study.speech import SpeechParts, check_corpus, speech_overrides

    cfg = load_config(speech_overrides(size))
    dm = instantiate(cfg.data)
    check_corpus(dm)
    dm.trainer = None
    dm.setup("fit")

    def task(cell: str, hidden: int):
        model = load_config(speech_overrides(size, cell, hidden)).model
        return instantiate(model, **dm.task_inputs())

    clip, lr = float(cfg.trainer.gradient_clip_val), float(cfg.model.optimizer.lr)
    return SpeechParts(data=dm, task=task, loss=ctc_step, clip=clip, lr=lr)
