"""Reading format-1 checkpoint records (avseq before composed components): each network's
flat constructor arguments become the part specs of the current format, so checkpoints of
those versions still evaluate, transcribe and export."""

from __future__ import annotations

from typing import Any

VIDEO_TASKS = ("video", "video_action")  # "video_action": format-1 checkpoints of avseq 0.1

# format 1 stored each network's flat constructor arguments; absent ones took these defaults
_V1_SPEECH = {
    "sample_rate": 16000, "n_fft": 400, "hop_length": 160, "n_mels": 80, "conv_channels": 32,
    "rnn_type": "gru", "hidden_size": 256, "num_layers": 3, "bidirectional": True,
    "dropout": 0.1, "freq_masks": 2, "freq_width": 15, "time_masks": 2, "time_width": 30,
    "decoder": None,
}  # fmt: skip
_V1_VIDEO = {
    "frame_encoder": None, "rnn_type": "gru", "hidden_size": 256, "num_layers": 1,
    "bidirectional": True, "dropout": 0.1, "attn_size": 128, "vocab_size": 0, "decoder": None,
    "concepts": False, "frame_skip": False,
}  # fmt: skip
_V1_LM = {"embed_size": 64, "hidden_size": 256, "num_layers": 2, "dropout": 0.2}
_RNN = ("rnn_type", "hidden_size", "num_layers", "bidirectional", "dropout")


def migrate_v1(meta: dict[str, Any]) -> dict[str, Any]:
    """A format-1 record in the format-2 layout (its `format` left for the caller to set):
    `task` becomes `kind`, the flat constructor arguments in `net` become part specs.

    Raises:
        KeyError, TypeError, ValueError: when the record is not a format-1 one.
    """
    meta = dict(meta)
    kind = meta.pop("task", None)
    kind = "video" if kind in VIDEO_TASKS else kind
    if kind in _V1_NETS:
        meta["net"] = _V1_NETS[kind](meta["net"])
    return {**meta, "kind": kind}


def _v1_args(net: dict[str, Any], defaults: dict[str, Any], required: str) -> dict[str, Any]:
    unknown = sorted(set(net) - set(defaults) - {required})
    if unknown:
        raise ValueError(f"unknown format-1 model settings {unknown}")
    return {**defaults, **net, required: net[required]}


def _part(target: str, **kwargs: Any) -> dict[str, Any]:
    return {"_target_": target, "_partial_": True, **kwargs}


def _v1_speech(net: dict[str, Any]) -> dict[str, Any]:
    a = _v1_args(net, _V1_SPEECH, "vocab_size")
    frontend = {k: a[k] for k in ("sample_rate", "n_fft", "hop_length", "n_mels")}
    augment = {k: a[k] for k in ("freq_masks", "freq_width", "time_masks", "time_width")}
    decoder = a["decoder"]
    return {
        "_target_": "avseq.models.components.recognizer.build_recognizer",
        "vocab_size": a["vocab_size"],
        "frontend": _part("avseq.features.audio.LogMel", **frontend),
        "augment": _part("avseq.features.audio.SpecAugment", **augment),
        "subsampler": _part(
            "avseq.models.components.subsampling.Conv2dSubsampler",
            channels=a["conv_channels"],
            out_dim=a["hidden_size"],
        ),
        "encoder": _part(
            "avseq.models.components.rnn_encoder.RNNEncoder", **{k: a[k] for k in _RNN}
        ),
        "head": _part("avseq.models.components.ctc_head.CTCHead"),
        "decoder": None
        if decoder is None
        else _part("avseq.models.components.attention_decoder.AttentionDecoder", **decoder),
    }


def _v1_video(net: dict[str, Any]) -> dict[str, Any]:
    a = _v1_args(net, _V1_VIDEO, "num_classes")
    frame_encoder = dict(a["frame_encoder"] or {})
    image_size = frame_encoder.pop("image_size", 64)  # the old FrameEncoder's default
    return {
        "_target_": "avseq.models.components.video_encoder.build_video_model",
        "num_classes": a["num_classes"],
        "vocab_size": a["vocab_size"],
        "image_size": image_size,
        "frame_skip": a["frame_skip"],
        "concepts": a["concepts"],
        "frame_encoder": _part("avseq.features.frames.FrameEncoder", **frame_encoder),
        "encoder": _part(
            "avseq.models.components.rnn_encoder.RNNEncoder", **{k: a[k] for k in _RNN}
        ),
        "head": _part(
            "avseq.models.components.attention.AttentionPoolingClassifier",
            attn_size=a["attn_size"],
            dropout=a["dropout"],
        ),
        "decoder": _part(
            "avseq.models.components.attention_decoder.AttentionDecoder", **(a["decoder"] or {})
        ),
    }


def _v1_lm(net: dict[str, Any]) -> dict[str, Any]:
    return {
        "_target_": "avseq.models.components.lm.RNNLanguageModel",
        **_v1_args(net, _V1_LM, "vocab_size"),
    }


_V1_NETS = {"speech": _v1_speech, "video": _v1_video, "speech_lm": _v1_lm}
