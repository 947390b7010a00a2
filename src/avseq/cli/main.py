"""The `avseq` command: train, data-speech, data-video, check-data, evaluate, transcribe,
classify, caption."""

from __future__ import annotations

import argparse
import json
import logging
import pickle
import sys
from collections.abc import Iterable
from pathlib import Path

from hydra.errors import InstantiationException

from avseq.cli.checks import check_outputs, first_line, instantiation_message, skipped_status
from avseq.cli.parser import build_parser
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


def cmd_word_lm(args: argparse.Namespace) -> int:
    from avseq.decoding.ngram import build_word_lm
    from avseq.text.tokenizer import CharTokenizer
    from avseq.utils.io import check_writable_file

    check_writable_file(Path(args.output), "--output")
    model, sentences = build_word_lm(args.sources, args.output, args.order, CharTokenizer())
    sizes = ", ".join(f"{len(m)} {n}-grams" for n, m in enumerate(model, 1))
    print(f"{args.output}: {sentences} sentences, {sizes}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from avseq.models.checkpoint import checkpoint_task
    from avseq.utils.io import check_writable_dir

    if args.output_dir:  # before the checkpoint is even read
        check_writable_dir(Path(args.output_dir), "--output-dir")
    task = checkpoint_task(args.checkpoint)
    if task == "video":
        return cmd_evaluate_video(args)
    if args.annotations or args.captions:
        raise AvseqError(
            f"{args.checkpoint}: a {task} checkpoint takes --manifest, not --annotations "
            "or --captions"
        )
    from avseq.evaluation.paths import default_eval_dir
    from avseq.evaluation.speech import evaluate_speech, split_manifest
    from avseq.inference.speech import Transcriber

    if args.split and args.manifest:
        raise AvseqError("--split names a split of the checkpoint's corpus; give it or --manifest")

    transcriber = Transcriber(
        args.checkpoint,
        args.device,
        args.batch_size,
        options=decode_options(args),
    )
    manifest = args.manifest or transcriber.meta.get("test_manifest")
    if not manifest:
        raise AvseqError(f"{args.checkpoint}: records no test manifest; pass --manifest FILE")
    if args.split:
        manifest = split_manifest(Path(manifest), args.split)
    out_dir = (
        Path(args.output_dir)
        if args.output_dir
        else default_eval_dir(Path(args.checkpoint), Path(manifest))
    )
    check_writable_dir(out_dir, "--output-dir")
    summary = evaluate_speech(transcriber, manifest, out_dir)
    print((out_dir / "summary.md").read_text())
    print(
        f"WER {100 * summary['wer']:.2f}%  CER {100 * summary['cer']:.2f}%  "
        f"(per-utterance results: {out_dir / 'predictions.jsonl'})"
    )
    return skipped_status(summary, "utterance")


def cmd_evaluate_video(args: argparse.Namespace) -> int:
    from avseq.evaluation.video import VideoEvalRequest, evaluate_video

    request = VideoEvalRequest(
        args.checkpoint,
        annotations=args.annotations or args.manifest,
        captions=args.captions,
        split=args.split,
        video_root=args.video_root,
        output_dir=args.output_dir,
        device=args.device,
        batch_size=args.batch_size,
        views=args.views,
        beam=args.beam or 5,
        workers=args.workers,
    )
    status = 0
    for result in evaluate_video(request):
        summary, folder = result.summary, result.folder
        status = max(status, skipped_status(summary, "video"))
        if result.kind == "action":
            print((folder / "summary.md").read_text())
            print(
                f"top-1 {100 * summary['top1']:.2f}%  top-5 {100 * summary['top5']:.2f}%  "
                f"(per-clip results: {folder / 'predictions.jsonl'}; "
                f"confusion matrix: {folder / 'confusion_matrix.png'})"
            )
            continue
        print((folder / "caption_summary.md").read_text())
        slots = summary.get("slot_accuracy")
        print(
            f"BLEU-4 {summary['bleu4']:.4f}  CIDEr-D {summary['cider_d']:.4f}"
            + (f"  slot accuracy {100 * slots:.2f}%" if slots is not None else "")
            + f"  (per-video captions: {folder / 'caption_predictions.jsonl'})"
        )
    return status


def emit_jsonl(results: Iterable[tuple[dict | None, str | None]], output: str | None) -> int:
    """Prints one JSON line per result (or writes them atomically to `output`) and one
    `error:` line per failed input on stderr; returns 1 if any input failed, else 0."""
    from avseq.utils.io import write_text_atomic

    lines, failed = [], 0
    for result, error in results:
        if error is not None:
            failed += 1
            print(f"error: {error}", file=sys.stderr)
            continue
        line = json.dumps(result)
        if output:
            lines.append(line + "\n")
        else:
            print(line, flush=True)
    if output:
        write_text_atomic(Path(output), "".join(lines))
    return 1 if failed else 0


def cmd_classify(args: argparse.Namespace) -> int:
    from avseq.cli.inputs import expand_videos
    from avseq.inference.video import ActionClassifier

    check_outputs(args)
    paths = expand_videos(args.inputs)
    classifier = ActionClassifier(args.checkpoint, args.device, args.batch_size, args.views)
    results = classifier.classify_files(paths, args.top_k)
    return emit_jsonl(((result, error) for _, result, error in results), args.output)


def cmd_caption(args: argparse.Namespace) -> int:
    from avseq.cli.inputs import expand_videos
    from avseq.inference.video import VideoCaptioner

    check_outputs(args)
    paths = expand_videos(args.inputs)
    captioner = VideoCaptioner(
        args.checkpoint,
        args.device,
        args.batch_size,
        beam=args.beam,
        max_words=args.max_words,
        length_alpha=args.length_penalty,
    )
    from avseq.cli.inputs import unique_names

    plots = None
    if args.attention_plot:  # one name per input, numbered where two share a name
        names = unique_names(map(str, paths), ".attention.png")
        plots = [Path(args.attention_plot) / name for name in names]
    results = captioner.caption_files(paths, plots)
    return emit_jsonl(((result, error) for _, result, error in results), args.output)


def decode_options(args: argparse.Namespace):
    from avseq.inference.speech import DecodeOptions

    extra = {"beam": args.beam} if args.beam is not None else {}
    return DecodeOptions(
        decoder=args.decoder,
        lm=args.lm,
        lm_weight=args.lm_weight,
        ctc_weight=args.ctc_weight,
        lexicon=args.lexicon,
        word_score=args.word_score,
        **extra,
    )


def cmd_transcribe(args: argparse.Namespace) -> int:
    from avseq.cli.inputs import expand_inputs, unique_names
    from avseq.inference.speech import Transcriber
    from avseq.metrics.plotting import plot_speech_attention
    from avseq.utils.io import write_text_atomic

    srt = args.format == "srt"
    check_outputs(args)
    paths = expand_inputs(args.inputs)
    srt_names, plot_names = unique_names(paths, ".srt"), unique_names(paths, ".png")
    transcriber = Transcriber(
        args.checkpoint,
        args.device,
        args.batch_size,
        args.chunk_seconds,
        options=decode_options(args),
        timestamps=args.timestamps or srt,
        attention=bool(args.attention_plot),
    )
    results = transcriber.transcribe_files(paths)

    def rows():
        for i, (path, decoded, error) in enumerate(results):
            if decoded is None:
                yield {"audio_filepath": path}, error
                continue
            row = {"audio_filepath": path, "text": decoded.text}
            if transcriber.timestamps:
                words = decoded.words
                row["words"] = [w.as_dict() for w in words] if words is not None else None
            if srt:
                from avseq.decoding.align import to_srt

                out = Path(args.output or ".") / srt_names[i]
                write_text_atomic(out, to_srt(decoded.words or []))
                row["srt"] = str(out)
            if args.attention_plot and decoded.attention is not None:
                out = Path(args.attention_plot) / plot_names[i]
                plot_speech_attention(path, transcriber, decoded, out)
                row["attention_plot"] = str(out)
            yield row, None

    return emit_jsonl(rows(), None if srt else args.output)


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
            "word-lm": cmd_word_lm,
            "evaluate": cmd_evaluate,
            "transcribe": cmd_transcribe,
            "classify": cmd_classify,
            "caption": cmd_caption,
            "average": cmd_average,
            "export": cmd_export,
            "serve": cmd_serve,
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
