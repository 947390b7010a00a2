"""The `avseq` command: train, data-speech, data-video, check-data, evaluate, transcribe,
classify, caption."""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
from pathlib import Path

from hydra.errors import InstantiationException

from avseq.cli.checks import first_line, instantiation_message
from avseq.cli.parser import build_parser
from avseq.cli.predict import (
    cmd_caption,
    cmd_classify,
    cmd_evaluate,
    cmd_predict_frames,
    cmd_transcribe,
    decode_options,
)
from avseq.cli.research import cmd_generate, cmd_study
from avseq.errors import AvseqError

log = logging.getLogger("avseq")


def cmd_train(overrides: list[str]) -> int:
    from lightning.pytorch.utilities import rank_zero_only

    from avseq.config import check_config, load_config
    from avseq.models.checkpoint import load_checkpoint
    from avseq.train import train

    cfg = load_config(overrides)
    for warning in check_config(cfg, overrides):
        log.warning(warning)
    ckpt = cfg.get("ckpt_path")
    if ckpt and ckpt != "last":  # weights only, one line naming the file if unusable
        load_checkpoint(ckpt, None)
    try:
        result = train(cfg)
    except pickle.UnpicklingError as err:  # ckpt_path=last found a file torch refuses
        raise AvseqError(
            f"ckpt_path={ckpt}: the checkpoint holds more than weights ({first_line(err)}); "
            "resume from a .ckpt written by 'avseq train'"
        ) from None
    if rank_zero_only.rank == 0:  # one summary, not one per DDP process
        print(json.dumps(result, indent=2))
    return 0


def cmd_sweep(overrides: list[str]) -> int:
    from avseq.sweep import multirun

    return multirun([o for o in overrides if o not in ("-m", "--multirun")])


def cmd_data_speech(overrides: list[str]) -> int:
    from hydra.utils import instantiate

    from avseq.config import load_config
    from avseq.data.synth.speech import generate_corpus

    cfg = load_config(overrides)
    if cfg.data.get("corpus") is None:
        raise AvseqError("data.corpus is null: there is no built-in corpus to generate")
    out = generate_corpus(instantiate(cfg.data.corpus, _convert_="all"))
    print((out / "corpus.json").read_text())
    return 0


def cmd_data_video(overrides: list[str]) -> int:
    from hydra.utils import instantiate

    from avseq.config import load_config
    from avseq.data.synth.video import generate_video_corpus

    cfg = load_config(["experiment=video", *overrides])
    if cfg.data.get("corpus") is None:
        raise AvseqError("data.corpus is null: there is no built-in clip set to generate")
    out = generate_video_corpus(instantiate(cfg.data.corpus, _convert_="all"))
    print((out / "corpus.json").read_text())
    return 0


def cmd_check_data(args: argparse.Namespace) -> int:
    from avseq.data.check import check_clips, check_manifest, source_kind
    from avseq.data.video.annotations import load_annotations
    from avseq.data.video.captions import load_captions
    from avseq.text.tokenizer import CharTokenizer

    bad = 0
    for source in args.sources:
        kind = source_kind(source)
        if kind != "manifest":  # video annotations (a list file, class folders) or captions
            if kind == "captions":
                videos, problems = load_captions(source, args.video_root, on_error="skip")
                clips = [v.clip() for v in videos.values()]
            else:
                clips, _, problems = load_annotations(
                    source, args.classes, args.video_root, on_error="skip"
                )
            good, broken = check_clips(clips)
            for problem in problems + broken:
                print(problem)
            bad += len(problems) + len(broken)
            print(f"{source}: {len(good)} usable videos, {len(problems) + len(broken)} problem(s)")
            continue
        manifest = source
        good, problems = check_manifest(manifest, CharTokenizer(), args.sample_rate)
        for problem in problems:
            print(problem)
        bad += len(problems)
        print(f"{manifest}: {len(good)} usable entries, {len(problems)} problem(s)")
    return 1 if bad else 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from avseq.data.corpora import prepare

    report = prepare(args.name, args.root, args.output, args.keep_text, args.fold, args.jobs)
    print(report.markdown(), end="")
    return 0


def cmd_word_lm(args: argparse.Namespace) -> int:
    from avseq.decoding.ngram import build_word_lm
    from avseq.text.tokenizer import CharTokenizer
    from avseq.utils.io import check_writable_file

    check_writable_file(Path(args.output), "--output")
    counts, sentences, builder = build_word_lm(
        args.sources, args.output, args.order, CharTokenizer()
    )
    sizes = ", ".join(f"{c} {n}-grams" for n, c in enumerate(counts, 1))
    print(f"{args.output}: {sentences} sentences, {sizes} ({builder})")
    return 0


def cmd_average(args: argparse.Namespace) -> int:
    from avseq.models.average import average_checkpoints
    from avseq.utils.checkpoint_io import AtomicCheckpointIO
    from avseq.utils.io import check_writable_file

    out = Path(args.output)
    check_writable_file(out, "--output")
    if out.resolve() in {Path(p).resolve() for p in args.checkpoints}:
        raise AvseqError(f"--output {out}: is one of the checkpoints averaged; give a new name")
    AtomicCheckpointIO().save_checkpoint(average_checkpoints(args.checkpoints), out)
    print(f"averaged {len(args.checkpoints)} checkpoints into {out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from avseq.export.writer import export_checkpoint

    export_checkpoint(
        args.checkpoint, args.format, args.output, check=args.check, batch_size=args.batch_size
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from avseq.serve.app import ServerLimits, run_server

    if not (args.speech_checkpoint or args.video_checkpoint):
        raise AvseqError("give --speech-checkpoint, --video-checkpoint or both")
    limits = ServerLimits(
        max_upload_bytes=int(args.max_upload_mb * 1_000_000),
        max_media_seconds=args.max_media_seconds,
        request_timeout=args.request_timeout,
        workers=args.workers,
        queue=args.queue,
    )
    run_server(
        speech_checkpoint=args.speech_checkpoint,
        video_checkpoint=args.video_checkpoint,
        host=args.host,
        port=args.port,
        limits=limits,
        options=decode_options(args),
        device=args.device,
    )
    return 0


class StderrHandler(logging.StreamHandler):
    """Writes to the `sys.stderr` of the moment (one that was replaced, e.g. by a test's
    capture, may be closed)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not log.handlers:  # main() may run many times in one process (tests, notebooks)
        handler = StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    parser = build_parser()
    try:
        hydra_commands = {
            "train": cmd_train,
            "data-speech": cmd_data_speech,
            "data-video": cmd_data_video,
        }
        if argv and argv[0] == "train" and {"-m", "--multirun"} & set(argv[1:]):
            return cmd_sweep(argv[1:])
        if argv and argv[0] in hydra_commands and not {"-h", "--help"} & set(argv[1:]):
            return hydra_commands[argv[0]](argv[1:])
        args = parser.parse_args(argv)
        if args.command in hydra_commands:
            print(
                f"usage: avseq {args.command} [key=value ...] (Hydra overrides, e.g. "
                "experiment=speech trainer=gpu model.net.encoder.rnn_type=lstm)"
            )
            return 0
        return {
            "check-data": cmd_check_data,
            "prepare": cmd_prepare,
            "word-lm": cmd_word_lm,
            "evaluate": cmd_evaluate,
            "transcribe": cmd_transcribe,
            "classify": cmd_classify,
            "caption": cmd_caption,
            "predict-frames": cmd_predict_frames,
            "average": cmd_average,
            "export": cmd_export,
            "serve": cmd_serve,
            "generate": cmd_generate,
            "study": cmd_study,
        }[args.command](args)
    except AvseqError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except InstantiationException as err:  # a config value a constructor rejected
        print(f"error: {instantiation_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
