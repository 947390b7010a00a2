"""The `avseq` command: train, data-speech, data-video, check-data, evaluate, transcribe,
classify, caption."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterable
from pathlib import Path

from hydra.errors import InstantiationException

from avseq.errors import AvseqError

log = logging.getLogger("avseq")


def cmd_train(overrides: list[str]) -> int:
    from lightning.pytorch.utilities import rank_zero_only

    from avseq.config import load_config
    from avseq.train import train

    result = train(load_config(overrides))
    if rank_zero_only.rank == 0:  # one summary, not one per DDP process
        print(json.dumps(result, indent=2))
    return 0


def cmd_data_speech(overrides: list[str]) -> int:
    from hydra.utils import instantiate

    from avseq.config import load_config
    from avseq.data.synth_speech import generate_corpus

    cfg = load_config(overrides)
    if cfg.data.get("corpus") is None:
        raise AvseqError("data.corpus is null: there is no built-in corpus to generate")
    out = generate_corpus(instantiate(cfg.data.corpus, _convert_="all"))
    print((out / "corpus.json").read_text())
    return 0


def cmd_data_video(overrides: list[str]) -> int:
    from hydra.utils import instantiate

    from avseq.config import load_config
    from avseq.data.synth_video import generate_video_corpus

    cfg = load_config(["experiment=video", *overrides])
    if cfg.data.get("corpus") is None:
        raise AvseqError("data.corpus is null: there is no built-in clip set to generate")
    out = generate_video_corpus(instantiate(cfg.data.corpus, _convert_="all"))
    print((out / "corpus.json").read_text())
    return 0


def source_kind(path: str) -> str:
    """ "manifest" (speech JSON lines), "captions" (MSR-VTT-style JSON) or "annotations"."""
    if path.endswith(".jsonl"):
        return "manifest"
    if path.endswith(".json"):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                first = f.readline()
        except OSError:
            return "manifest"  # its check reports the missing file
        return "manifest" if '"audio_filepath"' in first else "captions"
    return "annotations"


def cmd_check_data(args: argparse.Namespace) -> int:
    from avseq.data.annotations import load_annotations
    from avseq.data.captions import load_captions
    from avseq.data.check import check_clips, check_manifest
    from avseq.data.tokenizer import CharTokenizer

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
    from avseq.data.tokenizer import CharTokenizer
    from avseq.decoding.ngram import build_word_lm

    if args.order < 1:
        raise AvseqError(f"--order {args.order}: the n-gram order must be at least 1")
    model, sentences = build_word_lm(args.sources, args.output, args.order, CharTokenizer())
    sizes = ", ".join(f"{len(m)} {n}-grams" for n, m in enumerate(model, 1))
    print(f"{args.output}: {sentences} sentences, {sizes}")
    return 0


def default_eval_dir(checkpoint: Path, manifest: Path) -> Path:
    return checkpoint.resolve().parent.parent / "eval" / f"{checkpoint.stem}-{manifest.stem}"


def cmd_evaluate(args: argparse.Namespace) -> int:
    from avseq.checkpoint import checkpoint_task

    task = checkpoint_task(args.checkpoint)
    if task == "video":
        return cmd_evaluate_video(args)
    if args.annotations or args.captions:
        raise AvseqError(
            f"{args.checkpoint}: a {task} checkpoint takes --manifest, not --annotations "
            "or --captions"
        )
    from avseq.inference import Transcriber, evaluate_speech

    transcriber = Transcriber(
        args.checkpoint, args.device, args.batch_size, options=decode_options(args)
    )
    manifest = args.manifest or transcriber.meta.get("test_manifest")
    if not manifest:
        raise AvseqError(f"{args.checkpoint}: records no test manifest; pass --manifest FILE")
    out_dir = (
        Path(args.output_dir)
        if args.output_dir
        else default_eval_dir(Path(args.checkpoint), Path(manifest))
    )
    summary = evaluate_speech(transcriber, manifest, out_dir)
    print((out_dir / "summary.md").read_text())
    print(
        f"WER {100 * summary['wer']:.2f}%  CER {100 * summary['cer']:.2f}%  "
        f"(per-utterance results: {out_dir / 'predictions.jsonl'})"
    )
    return 0


def cmd_evaluate_video(args: argparse.Namespace) -> int:
    """Action metrics when the model has an action head, caption metrics when it has a
    decoder (both for the joint model), into one output folder."""
    from avseq.checkpoint import VIDEO_TASKS, load_checkpoint

    meta = load_checkpoint(args.checkpoint, VIDEO_TASKS)["avseq"]  # the model loads below
    clip = meta.get("clip") or {}
    annotations = args.annotations or args.manifest
    if annotations is None and args.split is None:  # the test split it was trained with
        annotations = clip.get("test_annotations")
    captions = args.captions or clip.get("captions")
    if annotations is None and not captions:
        raise AvseqError(
            f"{args.checkpoint}: records no test split; pass --annotations FILE or --captions FILE"
        )
    video_root = args.video_root or (
        None if args.annotations or args.captions else clip.get("video_root")
    )
    name = (
        Path(annotations).stem if annotations else f"{Path(captions).stem}-{args.split or 'test'}"
    )
    out_dir = (
        Path(args.output_dir)
        if args.output_dir
        else default_eval_dir(Path(args.checkpoint), Path(name))
    )
    if meta["classes"] and annotations:
        from avseq.classify import ActionClassifier, evaluate_action

        classifier = ActionClassifier(args.checkpoint, args.device, args.batch_size, args.views)
        summary = evaluate_action(classifier, annotations, out_dir, video_root, args.workers)
        print((out_dir / "summary.md").read_text())
        print(
            f"top-1 {100 * summary['top1']:.2f}%  top-5 {100 * summary['top5']:.2f}%  "
            f"(per-clip results: {out_dir / 'predictions.jsonl'}; "
            f"confusion matrix: {out_dir / 'confusion_matrix.png'})"
        )
    if meta.get("vocab") is not None and captions:
        from avseq.caption import VideoCaptioner, captioned_clips, evaluate_captions
        from avseq.data.captions import load_captions
        from avseq.data.synth_video import COMPOSITIONAL_SPLIT as COMP

        captioner = VideoCaptioner(
            args.checkpoint, args.device, args.batch_size, beam=args.beam or 5
        )
        clips, problems = captioned_clips(captions, annotations, args.split or "test", video_root)
        for problem in problems[:5]:
            log.warning("skipped: %s", problem)
        source = str(annotations or captions)
        runs = [(clips, problems, source, out_dir)]
        defaults = not (args.annotations or args.manifest or args.captions or args.split)
        if defaults:  # the built-in clips' compositional split comes with the test split
            comp = [v for v in load_captions(captions, video_root)[0].values()]
            comp_clips = [v.clip() for v in comp if v.split == COMP]
            if comp_clips:
                runs.append((comp_clips, [], f"{captions} ({COMP})", out_dir / COMP))
        for clips, problems, source, folder in runs:
            summary = evaluate_captions(
                captioner, clips, folder, source, args.workers, len(problems)
            )
            print((folder / "caption_summary.md").read_text())
            slots = summary.get("slot_accuracy")
            print(
                f"BLEU-4 {summary['bleu4']:.4f}  CIDEr-D {summary['cider_d']:.4f}"
                + (f"  slot accuracy {100 * slots:.2f}%" if slots is not None else "")
                + f"  (per-video captions: {folder / 'caption_predictions.jsonl'})"
            )
    return 0


def emit_jsonl(results: Iterable[tuple[dict | None, str | None]], output: str | None) -> int:
    """Prints one JSON line per result (or writes them atomically to `output`) and one
    `error:` line per failed input on stderr; returns 1 if any input failed, else 0."""
    from avseq.inference import write_text_atomic

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
    from avseq.classify import ActionClassifier, expand_videos

    classifier = ActionClassifier(args.checkpoint, args.device, args.batch_size, args.views)
    results = classifier.classify_files(expand_videos(args.inputs), args.top_k)
    return emit_jsonl(((result, error) for _, result, error in results), args.output)


def cmd_caption(args: argparse.Namespace) -> int:
    from avseq.caption import VideoCaptioner
    from avseq.classify import expand_videos

    captioner = VideoCaptioner(
        args.checkpoint,
        args.device,
        args.batch_size,
        beam=args.beam,
        max_words=args.max_words,
        length_alpha=args.length_penalty,
    )
    plots = Path(args.attention_plot) if args.attention_plot else None
    results = captioner.caption_files(expand_videos(args.inputs), plots)
    return emit_jsonl(((result, error) for _, result, error in results), args.output)


def decode_options(args: argparse.Namespace):
    from avseq.inference import DecodeOptions

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
    from avseq.inference import Transcriber, expand_inputs, write_text_atomic
    from avseq.plotting import plot_speech_attention

    srt = args.format == "srt"
    transcriber = Transcriber(
        args.checkpoint,
        args.device,
        args.batch_size,
        args.chunk_seconds,
        options=decode_options(args),
        timestamps=args.timestamps or srt,
        attention=bool(args.attention_plot),
    )
    results = transcriber.transcribe_files(expand_inputs(args.inputs))

    def rows():
        for path, decoded, error in results:
            if decoded is None:
                yield {"audio_filepath": path}, error
                continue
            row = {"audio_filepath": path, "text": decoded.text}
            if transcriber.timestamps:
                words = decoded.words
                row["words"] = [w.as_dict() for w in words] if words is not None else None
            if srt:
                from avseq.decoding.align import to_srt

                out = Path(args.output or ".") / (Path(path).stem + ".srt")
                write_text_atomic(out, to_srt(decoded.words or []))
                row["srt"] = str(out)
            if args.attention_plot and decoded.attention is not None:
                out = Path(args.attention_plot) / (Path(path).stem + ".png")
                plot_speech_attention(path, transcriber, decoded, out)
                row["attention_plot"] = str(out)
            yield row, None

    return emit_jsonl(rows(), None if srt else args.output)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="avseq", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "train", help="train a model: avseq train experiment=speech key=value ...", add_help=False
    )
    sub.add_parser(
        "data-speech", help="generate the built-in spoken corpus (Hydra overrides)", add_help=False
    )

    sub.add_parser(
        "data-video", help="generate the built-in action clips (Hydra overrides)", add_help=False
    )

    check = sub.add_parser(
        "check-data", help="check manifests / video annotations and decode every file up front"
    )
    check.add_argument(
        "sources",
        nargs="+",
        help="speech manifests (.jsonl), video annotations ('path label' files, UCF101 "
        "split files, class folders) or MSR-VTT-style captions JSON",
    )
    check.add_argument("--sample-rate", type=int, default=16000)
    check.add_argument("--classes", help="video class list file (default: beside the file)")
    check.add_argument("--video-root", help="folder relative video paths point into")

    ev = sub.add_parser(
        "evaluate",
        help="score a checkpoint: WER/CER (speech), accuracy (video actions), caption metrics",
    )
    ev.add_argument("--checkpoint", required=True)
    ev.add_argument(
        "--manifest",
        help="JSON-lines manifest (default: the built-in test split "
        "the checkpoint was trained with)",
    )
    ev.add_argument(
        "--annotations",
        help="video annotations for an action checkpoint (default: the test split it was "
        "trained with)",
    )
    ev.add_argument(
        "--captions",
        help="MSR-VTT-style captions JSON with the references (default: the one the "
        "checkpoint was trained with)",
    )
    ev.add_argument(
        "--split",
        help="with --captions (and no --annotations): the captions file's split to score, "
        "e.g. test or test_comp (default test)",
    )
    ev.add_argument("--video-root", help="folder relative video paths point into")
    ev.add_argument("--workers", type=int, default=2, help="video decoding processes")
    ev.add_argument("--output-dir", help="where predictions.jsonl and summary.{json,md} go")

    wl = sub.add_parser(
        "word-lm",
        help="build a word n-gram LM (ARPA, Kneser-Ney) from transcripts for CTC beam search",
    )
    wl.add_argument("sources", nargs="+", help="manifests or text files")
    wl.add_argument("--order", type=int, default=3, help="n-gram order (default 3)")
    wl.add_argument("--output", required=True, help="the .arpa file to write")

    tr = sub.add_parser("transcribe", help="transcribe audio files or manifests to JSON lines")
    tr.add_argument(
        "inputs", nargs="+", help="audio files (wav, flac, ogg, mp3) or .jsonl manifests"
    )
    tr.add_argument("--checkpoint", required=True)
    tr.add_argument(
        "--output",
        help="write JSON lines here instead of stdout (with --format srt: the folder for "
        "the .srt files, default the current one)",
    )
    tr.add_argument(
        "--chunk-seconds",
        type=float,
        default=30.0,
        help="longer files are transcribed in chunks of about this length",
    )
    tr.add_argument(
        "--timestamps",
        action="store_true",
        help="add per-word start/end seconds and confidence (CTC forced alignment)",
    )
    tr.add_argument(
        "--format",
        choices=["jsonl", "srt"],
        default="jsonl",
        help="srt: also write SubRip subtitles, one <audio name>.srt per file",
    )
    tr.add_argument(
        "--attention-plot",
        metavar="DIR",
        help="save a PNG per file: the attention decoder's alignment over the spectrogram "
        "(--decoder attention or joint)",
    )
    for p in (ev, tr):
        p.add_argument(
            "--decoder",
            choices=["greedy", "ctc-beam", "attention", "joint"],
            default="greedy",
            help="speech decoding: greedy CTC, CTC beam search, attention beam search, or "
            "joint CTC/attention beam search",
        )
        p.add_argument(
            "--lm",
            help="language model for beam search: a speech_lm checkpoint, or a "
            "KenLM .arpa/.bin word model (ctc-beam with --lexicon)",
        )
        p.add_argument(
            "--lm-weight",
            type=float,
            default=None,
            help="language model weight (default 1.0 for a word model, 0.5 for an LM checkpoint)",
        )
        p.add_argument("--ctc-weight", type=float, default=0.3, help="CTC weight in joint decoding")
        p.add_argument(
            "--lexicon",
            help="ctc-beam: words the output may use (a word list, or a manifest whose "
            "transcripts' words are taken)",
        )
        p.add_argument(
            "--word-score",
            type=float,
            default=0.0,
            help="bonus per word (ctc-beam) or per character (attention, joint)",
        )
    tr.add_argument(
        "--beam",
        type=int,
        default=None,
        help="beam width (default 8; ctc-beam 64, or 16 with an LM checkpoint)",
    )
    cl = sub.add_parser("classify", help="label video files with an action checkpoint")
    cl.add_argument("inputs", nargs="+", help="video files or folders of videos")
    cl.add_argument("--checkpoint", required=True)
    cl.add_argument("--output", help="write JSON lines here instead of stdout")
    cl.add_argument("--top-k", type=int, default=5, help="labels listed per video")
    ca = sub.add_parser("caption", help="write a caption per video with a captioning checkpoint")
    ca.add_argument("inputs", nargs="+", help="video files or folders of videos")
    ca.add_argument("--checkpoint", required=True)
    ca.add_argument("--output", help="write JSON lines here instead of stdout")
    ca.add_argument("--max-words", type=int, default=20, help="longest caption written")
    ca.add_argument(
        "--length-penalty",
        type=float,
        default=0.0,
        help="GNMT length penalty exponent for ranking beams (0: none)",
    )
    ca.add_argument(
        "--attention-plot",
        metavar="DIR",
        help="save a PNG per video: attention over the frames for each word",
    )
    ca.add_argument("--beam", type=int, default=5, help="beam width (1: greedy)")
    ev.add_argument(
        "--beam",
        type=int,
        default=None,
        help="beam width (default: 5 captions; speech 8, ctc-beam 64 or 16 with an LM checkpoint)",
    )
    for p in (ev, cl):
        p.add_argument(
            "--views", type=int, default=1, help="temporal views averaged per clip (multi-clip)"
        )
    for p in (ev, tr, cl, ca):
        p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
        p.add_argument("--batch-size", type=int, default=16)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not log.handlers:  # main() may run many times in one process (tests, notebooks)
        handler = logging.StreamHandler()
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
        if argv and argv[0] in hydra_commands and not {"-h", "--help"} & set(argv[1:]):
            return hydra_commands[argv[0]](argv[1:])
        args = parser.parse_args(argv)
        if args.command in hydra_commands:
            print(
                f"usage: avseq {args.command} [key=value ...] (Hydra overrides, e.g. "
                "experiment=speech trainer=gpu model.encoder.rnn_type=lstm)"
            )
            return 0
        return {
            "check-data": cmd_check_data,
            "word-lm": cmd_word_lm,
            "evaluate": cmd_evaluate,
            "transcribe": cmd_transcribe,
            "classify": cmd_classify,
            "caption": cmd_caption,
        }[args.command](args)
    except AvseqError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except InstantiationException as err:  # a config value a constructor rejected
        cause = err.__cause__ if isinstance(err.__cause__, AvseqError | ValueError) else err
        print(f"error: {str(cause).strip().splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
