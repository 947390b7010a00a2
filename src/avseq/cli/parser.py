"""The `avseq` command line: every verb and option (the commands are in `avseq.cli.main`)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

from avseq.data.corpora import CORPORA
from avseq.errors import AvseqError

DESCRIPTION = (
    "The `avseq` command: train, data-speech, data-video, prepare, check-data, word-lm, "
    "evaluate, transcribe, classify, caption, predict-frames, average, export, serve, generate, "
    "study."
)


class OneLineParser(argparse.ArgumentParser):
    """An argument parser whose errors are one `error: ...` line (no usage block), like every
    other avseq error; subcommand parsers inherit it."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise AvseqError(f"{message} (see: {self.prog} --help)")


def at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an integer >= `minimum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def positive(unit: str) -> Callable[[str], float]:
    """An argparse type: a finite number > 0 of `unit`."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not (math.isfinite(value) and value > 0):
            raise argparse.ArgumentTypeError(f"must be a positive number of {unit}, got {text}")
        return value

    parse.__name__ = f"number of {unit}"
    return parse


positive_seconds = positive("seconds")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="avseq", description=DESCRIPTION)
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
    check.add_argument("--sample-rate", type=at_least(1), default=16000)
    check.add_argument("--classes", help="video class list file (default: beside the file)")
    check.add_argument("--video-root", help="folder relative video paths point into")

    prep = sub.add_parser(
        "prepare",
        help="write manifests / annotation files from a real corpus's own layout (LibriSpeech, "
        "Common Voice, Speech Commands, Kaldi, TED-LIUM, Kinetics, HMDB51, MSVD)",
    )
    prep.add_argument("name", choices=list(CORPORA), help="the corpus")
    prep.add_argument("root", help="the corpus's folder, as distributed")
    prep.add_argument("--output", required=True, help="the folder the files and report go to")
    prep.add_argument(
        "--keep-text",
        action="store_true",
        help="keep transcripts as written (for SentencePiece units) instead of normalising "
        "them to a-z, apostrophe and space",
    )
    prep.add_argument("--fold", type=at_least(1), help="HMDB51's split: 1, 2 or 3 (default 1)")
    prep.add_argument(
        "--jobs", type=at_least(1), default=4, help="threads reading file headers (default 4)"
    )

    ev = sub.add_parser(
        "evaluate",
        help="score a checkpoint: WER/CER (speech), accuracy (video actions, keywords), "
        "caption metrics",
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
        help="a split of the checkpoint's corpus instead of its test split: speech "
        "test_unseen_voice (or any <split>.jsonl beside its test manifest); video, with "
        "--captions or the built-in clips, e.g. test or test_comp (default test)",
    )
    ev.add_argument(
        "--group-by",
        metavar="FIELD",
        help="speech: report WER per value of this manifest field (default: speaker, voice or "
        "client_id when the manifest has one)",
    )
    ev.add_argument("--video-root", help="folder relative video paths point into")
    ev.add_argument("--workers", type=at_least(0), default=2, help="video decoding processes")
    ev.add_argument("--output-dir", help="where predictions.jsonl and summary.{json,md} go")

    from avseq.cli.research import add_research_parsers  # here: it uses this module's types

    add_research_parsers(sub)  # generate, study
    wl = sub.add_parser(
        "word-lm",
        help="build a word n-gram LM (ARPA, Kneser-Ney) from transcripts for CTC beam search",
    )
    wl.add_argument("sources", nargs="+", help="manifests or text files")
    wl.add_argument("--order", type=at_least(1), default=3, help="n-gram order (default 3)")
    wl.add_argument("--output", required=True, help="the .arpa file to write")

    tr = sub.add_parser("transcribe", help="transcribe audio files or manifests to JSON lines")
    tr.add_argument(
        "inputs",
        nargs="+",
        help="audio files (wav, flac, ogg, mp3), folders of them, or .jsonl manifests",
    )
    tr.add_argument("--checkpoint", required=True)
    tr.add_argument(
        "--output",
        help="write JSON lines here instead of stdout (with --format srt: the folder for "
        "the .srt files, default the current one)",
    )
    tr.add_argument(
        "--chunk-seconds",
        type=positive_seconds,
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
    av = sub.add_parser(
        "average",
        help="average the weights of checkpoints of one run (the last or best k) into one",
    )
    av.add_argument("--checkpoints", nargs="+", required=True, help="two or more .ckpt files")
    av.add_argument("--output", required=True, help="the averaged .ckpt to write")
    ex = sub.add_parser(
        "export",
        help="export a checkpoint to ONNX or TorchScript (speech recognizer, action classifier, "
        "caption encoder + decoder step) with its settings in a JSON beside it",
    )
    ex.add_argument("--checkpoint", required=True)
    ex.add_argument("--format", choices=["onnx", "torchscript"], default="onnx")
    ex.add_argument("--output", required=True, help="the folder the model files are written to")
    ex.add_argument(
        "--check",
        metavar="N",
        type=at_least(0),
        default=8,
        help="after exporting, compare the exported model with PyTorch on N built-in test "
        "items (0: no check; `make export-check` runs the whole split)",
    )
    sv = sub.add_parser(
        "serve",
        help="serve the models over HTTP: a JSON API and a web page (upload or record audio, "
        "drop a video)",
    )
    sv.add_argument("--speech-checkpoint", help="a speech .ckpt for /api/transcribe")
    sv.add_argument("--video-checkpoint", help="a video .ckpt for /api/classify and /api/caption")
    sv.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    sv.add_argument("--port", type=at_least(0), default=8000)
    sv.add_argument(
        "--max-upload-mb",
        type=positive("megabytes"),
        default=20.0,
        help="largest upload accepted (MB)",
    )
    sv.add_argument(
        "--max-media-seconds",
        type=positive_seconds,
        default=600.0,
        help="longest audio or video accepted (seconds)",
    )
    sv.add_argument(
        "--request-timeout",
        type=positive_seconds,
        default=120.0,
        help="seconds a request may take before it is answered 504",
    )
    sv.add_argument(
        "--workers", type=at_least(1), default=1, help="requests the models work on at once"
    )
    sv.add_argument(
        "--queue",
        type=at_least(0),
        default=8,
        help="requests waiting for a worker; more are answered 503",
    )
    for p in (ev, tr, sv):
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
    for p in (tr, sv):
        p.add_argument(
            "--beam",
            type=at_least(1),
            default=None,
            help="beam width (default 8; ctc-beam 64, or 16 with an LM checkpoint)",
        )
    cl = sub.add_parser(
        "classify",
        help="label video files with an action checkpoint, or audio files with a keyword one",
    )
    cl.add_argument(
        "inputs",
        nargs="+",
        help="video files or folders of videos; for a keyword checkpoint audio files, folders "
        "of them or manifests",
    )
    cl.add_argument("--checkpoint", required=True)
    cl.add_argument("--output", help="write JSON lines here instead of stdout")
    cl.add_argument("--top-k", type=at_least(1), default=5, help="labels listed per input")
    ca = sub.add_parser("caption", help="write a caption per video with a captioning checkpoint")
    ca.add_argument("inputs", nargs="+", help="video files or folders of videos")
    ca.add_argument("--checkpoint", required=True)
    ca.add_argument("--output", help="write JSON lines here instead of stdout")
    ca.add_argument("--max-words", type=at_least(1), default=20, help="longest caption written")
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
    ca.add_argument("--beam", type=at_least(1), default=5, help="beam width (1: greedy)")
    pf = sub.add_parser(
        "predict-frames",
        help="predict a video's next frames with a frame prediction checkpoint and write the "
        "true and predicted frames side by side",
    )
    pf.add_argument("video", help="a video file (frames spread evenly over it, as in training)")
    pf.add_argument("--checkpoint", required=True, help="a video_frames .ckpt")
    pf.add_argument(
        "--output",
        help="a .gif or .mp4 (animated, true left, predicted right) or .png (a strip); "
        "default <video name>.frames.gif",
    )
    pf.add_argument("--fps", type=positive("frames a second"), default=4.0, help="animation speed")
    pf.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    ev.add_argument(
        "--beam",
        type=at_least(1),
        default=None,
        help="beam width (default: 5 captions; speech 8, ctc-beam 64 or 16 with an LM checkpoint)",
    )
    for p in (ev, cl):
        p.add_argument(
            "--views",
            type=at_least(1),
            default=1,
            help="temporal views averaged per clip (multi-clip)",
        )
    for p in (ev, tr, cl, ca, sv):
        p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    for p in (ev, tr, cl, ca, ex):
        p.add_argument("--batch-size", type=at_least(1), default=16)
    return parser
