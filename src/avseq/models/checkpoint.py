"""The one avseq checkpoint schema: the `avseq` record the tasks write beside Lightning's state
(`write_record`), and reading it back safely (`load_checkpoint` and the `load_*_model`s).

A checkpoint is a Lightning checkpoint whose `state_dict` holds the network under `net.`, plus
this record (format CHECKPOINT_FORMAT):

    format  2; format 1 (avseq before composed components) is migrated when read
    kind    what the network is: "speech" (a `SpeechRecognizer`), "speech_lm" (an
            `RNNLanguageModel` over a recognizer's tokens), "video" (a `VideoModel`) or
            "keyword" (a `KeywordClassifier`)
    net     how to rebuild it: a `_target_` config of its builder with the sizes filled in,
            each part a `_partial_` `_target_` config (as in configs/model/*.yaml)
    ...     the kind's own fields (KIND_FIELDS): tokenizer, ctc_weight, test_manifest (speech);
            tokenizer (speech_lm); classes, vocab, clip (video); classes, test_manifest
            (keyword); clip (video_frames: a `FramePredictor`)

`kind` is neither Hydra's `task_name` (the run's folder: speech, speech_joint, video_action,
...) nor a `*Task` class (the LightningModule that trains a network and writes its record:
SpeechTask "speech", LanguageModelTask "speech_lm", VideoTask "video", KeywordTask
"keyword"). Format 1 called it `task` and had "video_action" for the video models of avseq 0.1.

A checkpoint is untrusted input: it is read with `weights_only=True`, and every `_target_` in
its `net` must be one of avseq's components (`avseq.models.components.specs.COMPONENTS`),
checked before anything is built; nothing is imported or called by name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from avseq.errors import AvseqError
from avseq.models.checkpoint_v1 import VIDEO_TASKS, migrate_v1
from avseq.models.components.frame_predictor import FramePredictor
from avseq.models.components.keyword import KeywordClassifier
from avseq.models.components.lm import RNNLanguageModel
from avseq.models.components.recognizer import SpeechRecognizer
from avseq.models.components.specs import build_spec, check_spec
from avseq.models.components.video_encoder import VideoModel
from avseq.text.tokenizer import CharTokenizer, Tokenizer, tokenizer_from_dict
from avseq.text.vocab import WordVocab

CHECKPOINT_FORMAT = 2
SUPPORTED_FORMATS = (1, 2)
KIND_FIELDS: dict[str, tuple[str, ...]] = {
    "speech": ("tokenizer", "ctc_weight", "test_manifest"),
    "speech_lm": ("tokenizer",),
    "video": ("classes", "vocab", "clip"),
    "keyword": ("classes", "test_manifest"),
    "video_frames": ("clip",),
}


def write_record(checkpoint: dict[str, Any], kind: str, net: dict[str, Any], **fields: Any) -> None:
    """Stores the `avseq` record in a Lightning checkpoint (the tasks' `on_save_checkpoint`).

    Args:
        kind: "speech", "speech_lm", "video" or "keyword" (see the module docstring).
        net: the network's spec (`avseq.models.components.specs.net_spec`).
        fields: exactly the kind's KIND_FIELDS.
    """
    expected = KIND_FIELDS[kind]
    if set(fields) != set(expected):
        raise ValueError(f"a {kind!r} checkpoint record takes {expected}, got {sorted(fields)}")
    checkpoint["avseq"] = {"format": CHECKPOINT_FORMAT, "kind": kind, "net": net, **fields}


def load_checkpoint(path: str | Path, task: str | tuple[str, ...] | None) -> dict[str, Any]:
    """Loads a checkpoint without unpickling code, its `avseq` record in the current format,
    and checks the record's kind is `task` (if given, one kind or several).

    Raises:
        AvseqError: naming the file when it is missing, corrupt, not avseq's, of an unknown
            format, or another kind's.
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
    ckpt["avseq"] = meta = read_record(meta, path)
    kinds = (task,) if isinstance(task, str) else task
    if kinds is not None and meta["kind"] not in kinds:
        raise AvseqError(
            f"{path}: this is a {meta['kind']!r} checkpoint, but the command "
            f"needs a {kinds[0]!r} one"
        )
    return ckpt


def read_record(meta: dict[str, Any], path: str | Path) -> dict[str, Any]:
    """The `avseq` record in the current format (format 1 migrated).

    Raises:
        AvseqError: naming the file and the format when this avseq cannot read it.
    """
    found = meta.get("format")
    if type(found) is not int or found not in SUPPORTED_FORMATS:
        newer = type(found) is int and found > CHECKPOINT_FORMAT
        raise AvseqError(
            f"{path}: checkpoint format {found!r} is not one this avseq reads (formats "
            f"{', '.join(map(str, SUPPORTED_FORMATS))}); "
            + ("a newer avseq wrote it: upgrade avseq" if newer else "it is not avseq's")
        )
    if found == 1:
        try:
            return {**migrate_v1(meta), "format": CHECKPOINT_FORMAT}
        except (KeyError, TypeError, ValueError) as err:
            raise _mismatch(path, err) from None
    return meta


def build_net(spec: Any, path: str | Path) -> nn.Module:
    """Rebuilds a network from a record's `net`, after checking every `_target_` in it.

    Raises:
        AvseqError: a `_target_` outside avseq's components (refused before anything is
            built), or a network this avseq version cannot build from the spec.
    """
    try:
        check_spec(spec)
    except AvseqError as err:
        raise AvseqError(f"{path}: {err}") from None
    try:
        net = build_spec(spec)
        if not isinstance(net, nn.Module):
            raise TypeError(f"its net is a {type(net).__name__}, not a network")
    except (AvseqError, KeyError, TypeError, ValueError, RuntimeError) as err:
        raise _mismatch(path, err) from None
    return net


def load_speech_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[SpeechRecognizer, Tokenizer, dict[str, Any]]:
    """Rebuilds a trained recognizer from its checkpoint alone, in eval mode on `device`.

    Returns:
        (model, tokenizer, the checkpoint's avseq record).
    """
    ckpt = load_checkpoint(path, "speech")
    meta = ckpt["avseq"]
    model = _rebuild(ckpt, meta["net"], SpeechRecognizer, path)
    return model.eval().to(device), _tokenizer(meta, path), meta


def load_language_model(
    path: str | Path, tokenizer: Tokenizer, device: str | torch.device = "cpu"
) -> RNNLanguageModel:
    """Rebuilds a language model (`avseq train experiment=speech_lm`) for decoding with a
    recognizer that uses `tokenizer`.

    Raises:
        AvseqError: naming the file when it is not a language model or its units differ.
    """
    model, lm_tokenizer = load_language_model_and_units(path, device)
    if lm_tokenizer.to_dict() != tokenizer.to_dict():
        raise AvseqError(
            f"{path}: the language model's units ({lm_tokenizer.describe()}) differ from the "
            f"recognizer's ({tokenizer.describe()}); train it with the recognizer's tokenizer "
            "(data.tokenizer_checkpoint=RECOGNIZER.ckpt)"
        )
    return model


def load_language_model_and_units(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[RNNLanguageModel, Tokenizer]:
    """Rebuilds a language model in eval mode on `device`, with the units (tokenizer) it was
    trained on (`avseq generate`)."""
    ckpt = load_checkpoint(path, "speech_lm")
    meta = ckpt["avseq"]
    model = _rebuild(ckpt, meta["net"], RNNLanguageModel, path)
    return model.eval().to(device), _tokenizer(meta, path)


def speech_tokenizer(checkpoint: str | Path | None = None) -> Tokenizer:
    """The units of a recognizer checkpoint (characters when None): the units a language model
    trained for that recognizer must use (`data.tokenizer_checkpoint`)."""
    if not checkpoint:
        return CharTokenizer()
    return _tokenizer(load_checkpoint(checkpoint, "speech")["avseq"], checkpoint)


def _tokenizer(meta: dict[str, Any], path: str | Path) -> Tokenizer:
    """The tokenizer a speech or LM record stores."""
    try:
        return tokenizer_from_dict(meta["tokenizer"])
    except (KeyError, TypeError, ValueError) as err:
        raise _mismatch(path, err) from None


def checkpoint_task(path: str | Path) -> str:
    """The kind of network a checkpoint holds ("speech", "speech_lm", "video", "keyword")."""
    kind = load_checkpoint(path, task=None)["avseq"]["kind"]
    return "video" if kind in VIDEO_TASKS else kind


def load_video_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[VideoModel, dict[str, Any]]:
    """Rebuilds a trained video model (action head, caption decoder or both) from its
    checkpoint, in eval mode on `device`.

    Returns:
        (model, the checkpoint's avseq record: classes, vocab as a `WordVocab`, clip sampling
        settings, ...).
    """
    ckpt = load_checkpoint(path, VIDEO_TASKS)
    meta = ckpt["avseq"]
    meta.setdefault("vocab", None)
    spec = meta["net"]
    if isinstance(spec, dict) and isinstance(spec.get("frame_encoder"), dict):
        # the checkpoint holds the trained weights: never read a backbone file it names
        spec = {**spec, "frame_encoder": {**spec["frame_encoder"], "weights": None}}
    model = _rebuild(ckpt, spec, VideoModel, path)
    try:
        if len(meta["classes"]) != spec.get("num_classes", 0):
            raise ValueError("class list and model size differ")
        if meta["vocab"] is not None:
            meta["vocab"] = WordVocab.from_dict(meta["vocab"])
            if len(meta["vocab"]) != spec.get("vocab_size", 0):
                raise ValueError("caption vocabulary and model size differ")
    except (KeyError, TypeError, ValueError) as err:
        raise _mismatch(path, err) from None
    return model.eval().to(device), meta


def load_keyword_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[KeywordClassifier, dict[str, Any]]:
    """Rebuilds a trained keyword classifier in eval mode on `device`, with the checkpoint's
    avseq record (classes in index order, test_manifest)."""
    ckpt = load_checkpoint(path, "keyword")
    meta = ckpt["avseq"]
    model = _rebuild(ckpt, meta["net"], KeywordClassifier, path)
    classes = meta.get("classes")
    if not isinstance(classes, list) or len(classes) != meta["net"].get("num_classes"):
        raise _mismatch(path, ValueError("class list and model size differ"))
    return model.eval().to(device), meta


def load_frame_model(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[FramePredictor, dict[str, Any]]:
    """Rebuilds a frame predictor in eval mode on `device`, with the checkpoint's record
    (clip: size, context_frames, future_frames, test_annotations, ...)."""
    ckpt = load_checkpoint(path, "video_frames")
    model = _rebuild(ckpt, ckpt["avseq"]["net"], FramePredictor, path)
    clip = ckpt["avseq"].get("clip") if isinstance(ckpt["avseq"].get("clip"), dict) else {}
    sizes = [clip.get(k) for k in ("size", "context_frames", "future_frames")]
    if sizes[0] != model.image_size or not all(isinstance(v, int) for v in sizes):
        raise _mismatch(path, ValueError("clip settings and model size differ"))
    return model.eval().to(device), ckpt["avseq"]


def _rebuild(ckpt: dict[str, Any], spec: Any, kind: type, path: str | Path) -> Any:
    """The network of `spec` with the checkpoint's weights; a `kind` instance."""
    model = build_net(spec, path)
    try:
        if not isinstance(model, kind):
            raise TypeError(f"its net is a {type(model).__name__}, not a {kind.__name__}")
        model.load_state_dict(_net_state(ckpt))
    except (TypeError, RuntimeError) as err:
        raise _mismatch(path, err) from None
    return model


def _mismatch(path: str | Path, err: Exception) -> AvseqError:
    """The one-line error for a checkpoint whose model this version cannot rebuild."""
    first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
    return AvseqError(f"{path}: the checkpoint's model does not match this avseq version ({first})")


def _net_state(ckpt: dict[str, Any]) -> dict[str, torch.Tensor]:
    return {
        k.removeprefix("net."): v for k, v in ckpt["state_dict"].items() if k.startswith("net.")
    }
