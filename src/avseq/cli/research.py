"""The `avseq generate` and `avseq study` commands: text from the language model, and the
experiments that measure the recurrent networks themselves."""

from __future__ import annotations

import argparse
import math


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


def cmd_generate(args: argparse.Namespace) -> int:
    from avseq.inference.generate import SamplingOptions, TextGenerator
    from avseq.utils.device import pick_device

    options = SamplingOptions(args.temperature, args.top_k, args.max_chars)
    generator = TextGenerator.from_checkpoint(args.checkpoint, pick_device(args.device))
    for line in generator.generate(args.prompt, args.num, args.seed, options):
        print(line, flush=True)
    return 0
