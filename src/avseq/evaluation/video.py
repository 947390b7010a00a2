"""Video evaluation of one checkpoint: which splits to score (from the checkpoint's record of
its training data unless given), action metrics where the model has an action head and caption
metrics where it has a decoder, into one output folder."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from avseq.data.synth.video import COMPOSITIONAL_SPLIT
from avseq.data.video.captions import load_captions
from avseq.errors import AvseqError
from avseq.evaluation.action import evaluate_action
from avseq.evaluation.caption import captioned_clips, evaluate_captions
from avseq.evaluation.paths import default_eval_dir, split_annotations
from avseq.inference.video import ActionClassifier, VideoCaptioner
from avseq.models.checkpoint import VIDEO_TASKS, load_checkpoint

log = logging.getLogger(__name__)


@dataclass
class VideoEvalRequest:
    """What to score; None fields default to what the checkpoint was trained with.

    Args:
        annotations: video annotations with labels (actions; captions joined by path).
        captions: MSR-VTT-style captions JSON with the references.
        split: the split to score (default "test"). With no annotations or captions given, a
            `<split>.txt` beside the recorded test annotations is scored (actions and captions;
            the built-in clips' `test_comp` and `test_other`), else the captions file's split.
        video_root: folder relative video paths point into.
        output_dir: where the reports go (default: `default_eval_dir`).
    """

    checkpoint: str | Path
    annotations: str | Path | None = None
    captions: str | Path | None = None
    split: str | None = None
    video_root: str | Path | None = None
    output_dir: str | Path | None = None
    device: str = "auto"
    batch_size: int = 16
    views: int = 1
    beam: int = 5
    workers: int = 2


@dataclass
class VideoEvalResult:
    kind: str  # "action" or "caption"
    summary: dict[str, Any]
    folder: Path


def evaluate_video(req: VideoEvalRequest) -> list[VideoEvalResult]:
    """Scores `req.checkpoint`; with no split given, the built-in clips' compositional split is
    scored beside the test split (in `<output>/test_comp`). `split="test_other"` scores the
    built-in clips drawn by another renderer (in `eval/<checkpoint>-test_other`)."""
    meta = load_checkpoint(req.checkpoint, VIDEO_TASKS)["avseq"]
    clip = meta.get("clip") or {}
    given = req.annotations is not None or req.captions is not None
    annotations = req.annotations
    if annotations is None and req.split is None:
        annotations = clip.get("test_annotations")
    elif not given:  # a named split: the built-in clips keep its annotation file too
        annotations = split_annotations(clip.get("test_annotations"), req.split)
    captions = req.captions or clip.get("captions")
    if annotations is None and not captions:
        raise AvseqError(
            f"{req.checkpoint}: records no test split; pass --annotations FILE or --captions FILE"
        )
    video_root = req.video_root or (None if given else clip.get("video_root"))
    name = Path(annotations).stem if annotations else f"{Path(captions).stem}-{req.split or 'test'}"
    out_dir = (
        Path(req.output_dir)
        if req.output_dir
        else default_eval_dir(Path(req.checkpoint), Path(name))
    )
    results: list[VideoEvalResult] = []
    if meta["classes"] and annotations:
        classifier = ActionClassifier(req.checkpoint, req.device, req.batch_size, req.views)
        summary = evaluate_action(classifier, annotations, out_dir, video_root, req.workers)
        results.append(VideoEvalResult("action", summary, out_dir))
    if meta.get("vocab") is not None and captions:
        captioner = VideoCaptioner(req.checkpoint, req.device, req.batch_size, beam=req.beam)
        clips, problems = captioned_clips(captions, annotations, req.split or "test", video_root)
        for problem in problems[:5]:
            log.warning("skipped: %s", problem)
        runs = [(clips, len(problems), str(annotations or captions), out_dir)]
        if not given and req.split is None:
            videos = load_captions(captions, video_root)[0].values()
            comp = [v.clip() for v in videos if v.split == COMPOSITIONAL_SPLIT]
            if comp:
                source = f"{captions} ({COMPOSITIONAL_SPLIT})"
                runs.append((comp, 0, source, out_dir / COMPOSITIONAL_SPLIT))
        for clips, skipped, source, folder in runs:
            summary = evaluate_captions(captioner, clips, folder, source, req.workers, skipped)
            results.append(VideoEvalResult("caption", summary, folder))
    return results
