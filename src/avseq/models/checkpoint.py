"""Loading self-describing avseq checkpoints safely (`weights_only=True`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from avseq.errors import AvseqError
from avseq.models.components.lm import RNNLanguageModel
from avseq.models.components.recognizer import SpeechRecognizer
from avseq.models.components.video_encoder import VideoModel
from avseq.text.tokenizer import Tokenizer, tokenizer_from_dict
from avseq.text.vocab import WordVocab

VIDEO_TASKS = ("video", "video_action")  # "video_action": checkpoints of avseq 0.1


def load_checkpoint(path: str | Path, task: str | tuple[str, ...] | None) -> dict[str, Any]:
    """Loads a checkpoint without unpickling code and checks it was made for `task` (if given,
    one task name or several).

    Raises:
        AvseqError: naming the file when it is missing, corrupt, not avseq's, or another task's.
    """
    path = Path(path)
    if not path.is_file():
        raise AvseqError(
            f"{path}: no such checkpoint; train one first (make train-speech or "
            "make train-video) or fix the path"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:120]
        raise AvseqError(
            f"{path}: not a readable checkpoint ({first}); the file may be truncated "
            "or corrupt, or not a PyTorch checkpoint"
        ) from None
    meta = ckpt.get("avseq") if isinstance(ckpt, dict) else None
    if not isinstance(meta, dict) or "state_dict" not in ckpt:
        raise AvseqError(
            f"{path}: not an avseq checkpoint (it lacks avseq's model description); "
            "use a .ckpt written by 'avseq train'"
        )
    tasks = (task,) if isinstance(task, str) else task
    if tasks is not None and meta.get("task") not in tasks:
        raise AvseqError(
            f"{path}: this is a {meta.get('task')!r} checkpoint, but the command "
            f"needs a {tasks[0]!r} one"
        )
    return ckpt


def load_speech_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[SpeechRecognizer, Tokenizer, dict[str, Any]]:
    """Rebuilds a trained recognizer from its checkpoint alone, in eval mode on `device`.

    Returns:
        (model, tokenizer, the checkpoint's avseq metadata).
    """
    ckpt = load_checkpoint(path, "speech")
    meta = ckpt["avseq"]
    try:
        tokenizer = tokenizer_from_dict(meta["tokenizer"])
        model = SpeechRecognizer(**meta["net"])
        model.load_state_dict(_net_state(ckpt))
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise _mismatch(path, err) from None
    return model.eval().to(device), tokenizer, meta


def load_language_model(
    path: str | Path, tokenizer: Tokenizer, device: str | torch.device = "cpu"
) -> RNNLanguageModel:
    """Rebuilds a language model (`avseq train experiment=speech_lm`) for decoding with a
    recognizer that uses `tokenizer`.

    Raises:
        AvseqError: naming the file when it is not a language model or its units differ.
    """
    ckpt = load_checkpoint(path, "speech_lm")
    meta = ckpt["avseq"]
    try:
        lm_tokenizer = tokenizer_from_dict(meta["tokenizer"])
        model = RNNLanguageModel(**meta["net"])
        model.load_state_dict(_net_state(ckpt))
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise _mismatch(path, err) from None
    if lm_tokenizer.to_dict() != tokenizer.to_dict():
        raise AvseqError(
            f"{path}: the language model's units ({lm_tokenizer.describe()}) differ from the "
            f"recognizer's ({tokenizer.describe()}); train it with the recognizer's tokenizer "
            "(data.tokenizer_checkpoint=RECOGNIZER.ckpt)"
        )
    return model.eval().to(device)


def checkpoint_task(path: str | Path) -> str:
    """The task a checkpoint was trained for ("speech" or "video")."""
    path = Path(path)
    task = load_checkpoint(path, task=None)["avseq"]["task"]
    return "video" if task in VIDEO_TASKS else task


def load_video_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[VideoModel, dict[str, Any]]:
    """Rebuilds a trained video model (action head, caption decoder or both) from its
    checkpoint, in eval mode on `device`.

    Returns:
        (model, the checkpoint's avseq metadata: classes, vocab, clip sampling settings, ...).
    """
    ckpt = load_checkpoint(path, VIDEO_TASKS)
    meta = ckpt["avseq"]
    meta.setdefault("vocab", None)
    try:
        config = dict(meta["net"])
        frame_encoder = dict(config.get("frame_encoder") or {})
        frame_encoder["weights"] = None  # the checkpoint holds the trained weights
        config["frame_encoder"] = frame_encoder
        model = VideoModel(**config)
        model.load_state_dict(_net_state(ckpt))
        if len(meta["classes"]) != config["num_classes"]:
            raise ValueError("class list and model size differ")
        if meta["vocab"] is not None:
            meta["vocab"] = WordVocab.from_dict(meta["vocab"])
            if len(meta["vocab"]) != config.get("vocab_size", 0):
                raise ValueError("caption vocabulary and model size differ")
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise _mismatch(path, err) from None
    return model.eval().to(device), meta


def _mismatch(path: str | Path, err: Exception) -> AvseqError:
    """The one-line error for a checkpoint whose model this version cannot rebuild."""
    first = str(err).strip().splitlines()[0][:160]
    return AvseqError(f"{path}: the checkpoint's model does not match this avseq version ({first})")


def _net_state(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {
        k.removeprefix("net."): v for k, v in ckpt["state_dict"].items() if k.startswith("net.")
    }
