"""The models a server holds: one set per worker, loaded through THE predict paths of
`avseq.inference` (the same code as `avseq transcribe`, `classify` and `caption`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avseq.inference.speech import DecodeOptions, Transcriber
from avseq.inference.video import ActionClassifier, VideoCaptioner, VideoPredictor

log = logging.getLogger(__name__)

TASKS = ("transcribe", "classify", "caption")


@dataclass
class Predictors:
    """The loaded models of one worker; a task without its model is answered 404 with the
    reason in `missing`.

    Args:
        transcriber: speech recognition, with word timestamps when the model has a CTC head.
        classifier: action labels (and a timeline of windows for long videos).
        captioner: a sentence per video, with the decoder's frames-by-words attention.
        reasons: task -> why it is not offered, for a model that lacks the task's head.
    """

    transcriber: Transcriber | None = None
    classifier: ActionClassifier | None = None
    captioner: VideoCaptioner | None = None
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def missing(self) -> dict[str, str]:
        """Task -> why this server does not offer it."""
        models = (self.transcriber, self.classifier, self.captioner)
        flags = ("--speech-checkpoint", "--video-checkpoint", "--video-checkpoint")
        return {
            task: self.reasons.get(task, f"this server was started without a model for it ({flag})")
            for task, model, flag in zip(TASKS, models, flags, strict=True)
            if model is None
        }

    def describe(self) -> dict[str, Any]:
        """What `/api/health` says about the models (no server paths: file names only)."""
        speech = video = None
        if self.transcriber is not None:
            t = self.transcriber
            speech = {
                "checkpoint": Path(t.checkpoint).name,
                "decoder": t.options.describe(),
                "sample_rate": t.sample_rate,
                "timestamps": bool(t.timestamps),
                "attention": t.model.decoder is not None
                and (t.options.decoder in ("attention", "joint") or not t.timestamps),
            }
        video_model = self.classifier or self.captioner
        if video_model is not None:
            video = {
                "checkpoint": Path(video_model.checkpoint).name,
                "classes": list(self.classifier.classes) if self.classifier else [],
                "captions": self.captioner is not None,
                "clip_seconds": video_model.clip_seconds,
                "frames_per_clip": video_model.num_frames,
            }
        return {"speech": speech, "video": video}


def load_transcriber(checkpoint: str, options: DecodeOptions, device: str) -> Transcriber:
    """A `Transcriber` that also times words (when the model has a trained CTC head) and keeps
    the attention decoder's alignment (attention and joint decoding)."""
    transcriber = Transcriber(
        checkpoint, device, batch_size=1, options=options, timestamps=False, attention=True
    )
    transcriber.timestamps = transcriber.ctc_trained  # an attention-only model has no timing
    return transcriber


def load_predictors(
    speech_checkpoint: str | None,
    video_checkpoint: str | None,
    options: DecodeOptions | None = None,
    device: str = "auto",
) -> Predictors:
    """Loads the models for one worker; a video checkpoint serves the tasks it has heads for."""
    predictors = Predictors()
    if speech_checkpoint:
        predictors.transcriber = load_transcriber(
            speech_checkpoint, options or DecodeOptions(), device
        )
    if video_checkpoint:
        heads = VideoPredictor(video_checkpoint, device)
        if heads.classes:
            predictors.classifier = ActionClassifier(video_checkpoint, device, batch_size=8)
        else:
            predictors.reasons["classify"] = (
                "this server's video model has no action head (it was trained to caption only)"
            )
        if heads.meta.get("vocab") is not None and heads.model.decoder is not None:
            predictors.captioner = VideoCaptioner(video_checkpoint, device, batch_size=1)
        else:
            predictors.reasons["caption"] = (
                "this server's video model has no caption decoder (it was trained for actions only)"
            )
        del heads
    return predictors
