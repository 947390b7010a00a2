"""The prediction commands: evaluate, transcribe, classify, caption, predict-frames
(`avseq.cli.main` dispatches to them)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from pathlib import Path

from avseq.cli.checks import check_outputs, skipped_status
from avseq.errors import AvseqError


def cmd_evaluate(args: argparse.Namespace) -> int:
    from avseq.models.checkpoint import checkpoint_task
    from avseq.utils.io import check_writable_dir

    if args.output_dir:  # before the checkpoint is even read
        check_writable_dir(Path(args.output_dir), "--output-dir")
    task = checkpoint_task(args.checkpoint)
    if task == "video":
        return cmd_evaluate_video(args)
    if task == "video_frames":
        return cmd_evaluate_frames(args)
    if task == "keyword":
        from avseq.cli.keyword import cmd_evaluate_keyword

        return cmd_evaluate_keyword(args)
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
    summary = evaluate_speech(transcriber, manifest, out_dir, group_by=args.group_by)
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


def cmd_evaluate_frames(args: argparse.Namespace) -> int:
    from avseq.evaluation.frames import evaluate_frames
    from avseq.evaluation.paths import default_eval_dir, split_annotations
    from avseq.inference.frames import VideoFramePredictor

    if args.manifest or args.captions:
        raise AvseqError(
            f"{args.checkpoint}: a frame prediction checkpoint takes --annotations or --split"
        )
    predictor = VideoFramePredictor(args.checkpoint, args.device, args.batch_size)
    clip = predictor.meta["clip"]
    annotations = args.annotations or clip.get("test_annotations")
    if args.split and not args.annotations:
        annotations = split_annotations(clip.get("test_annotations"), args.split)
    if not annotations:
        raise AvseqError(
            f"{args.checkpoint}: records no {args.split or 'test'} split; pass --annotations FILE"
        )
    out_dir = (
        Path(args.output_dir)
        if args.output_dir
        else default_eval_dir(Path(args.checkpoint), Path(annotations))
    )
    root = args.video_root or (None if args.annotations else clip.get("video_root"))
    summary = evaluate_frames(predictor, annotations, out_dir, root, args.workers)
    print((out_dir / "summary.md").read_text())
    print(f"(per-clip results: {out_dir / 'predictions.jsonl'})")
    return skipped_status(summary, "video")


def cmd_predict_frames(args: argparse.Namespace) -> int:
    from avseq.inference.frames import VideoFramePredictor
    from avseq.utils.io import check_writable_file

    output = Path(args.output or f"{Path(args.video).stem}.frames.gif")
    check_writable_file(output, "--output")
    if output.suffix.lower() not in (".gif", ".mp4", ".png"):
        raise AvseqError(f"--output {output}: give a .gif, .mp4 or .png file name")
    predictor = VideoFramePredictor(args.checkpoint, args.device)
    print(json.dumps(predictor.predict_file(args.video, output, args.fps)))
    return 0


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
    from avseq.models.checkpoint import checkpoint_task

    check_outputs(args)
    # a keyword checkpoint labels audio files (a missing file fails below, after the inputs)
    if Path(args.checkpoint).is_file() and checkpoint_task(args.checkpoint) == "keyword":
        from avseq.cli.keyword import cmd_classify_keyword

        return cmd_classify_keyword(args)
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
