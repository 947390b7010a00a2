"""The checkpoint schema: the record every task writes round-trips through the loaders, format-1
checkpoints (written before composed components) still load and predict the same, and an
unknown format or a `_target_` outside avseq's components is refused in one line."""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch
from hydra.utils import instantiate
from torch import nn

from avseq.config import load_config
from avseq.errors import AvseqError
from avseq.features.audio import LogMel, SpecAugment
from avseq.features.frames import FrameEncoder
from avseq.models.checkpoint import (
    CHECKPOINT_FORMAT,
    SUPPORTED_FORMATS,
    checkpoint_task,
    load_checkpoint,
    load_language_model,
    load_speech_model,
    load_video_model,
)
from avseq.models.components.attention import AttentionPoolingClassifier
from avseq.models.components.attention_decoder import AttentionDecoder
from avseq.models.components.ctc_head import CTCHead
from avseq.models.components.lm import RNNLanguageModel
from avseq.models.components.recognizer import SpeechRecognizer, build_recognizer
from avseq.models.components.rnn_encoder import RNNEncoder
from avseq.models.components.subsampling import Conv2dSubsampler
from avseq.models.components.video_encoder import VideoEncoder, VideoModel
from avseq.models.tasks.speech import SpeechTask
from avseq.text.tokenizer import CharTokenizer
from avseq.text.video_language import ACTIONS, caption_words
from avseq.text.vocab import WordVocab

TOK = CharTokenizer()
SPEECH = [
    "model.net.encoder.hidden_size=16",
    "model.net.encoder.num_layers=1",
    "model.net.subsampler.channels=4",
    "model.net.frontend.n_mels=20",
]
DECODER = ["model.net.decoder.hidden_size=16", "model.net.decoder.embed_size=8"]
VIDEO = [
    "model.net.frame_encoder.channels=[4,8,8,8]",
    "model.net.frame_encoder.out_dim=16",
    "model.net.encoder.hidden_size=8",
    "model.net.decoder.hidden_size=16",
]


def waves() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 8000, generator=g) * 0.1, torch.tensor([8000, 5000])


def clips() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    frames = torch.randint(0, 256, (2, 4, 3, 32, 32), generator=g, dtype=torch.uint8)
    return frames, torch.tensor([4, 3])


def save(path: Path, net: nn.Module, record: dict[str, Any]) -> Path:
    """A Lightning-style checkpoint: the net's weights under `net.` and the avseq record."""
    state = {f"net.{k}": v for k, v in net.state_dict().items()}
    torch.save({"state_dict": state, "avseq": record}, path)
    return path


def saved_task(path: Path, experiment: str, overrides: list[str], **inputs: Any) -> Any:
    """A task built from the real configs, saved as its `on_save_checkpoint` writes it."""
    cfg = load_config([f"experiment={experiment}", *overrides])
    torch.manual_seed(0)
    task = instantiate(cfg.model, **inputs)
    checkpoint: dict[str, Any] = {"state_dict": task.state_dict()}
    task.on_save_checkpoint(checkpoint)
    torch.save(checkpoint, path)
    return task


@pytest.mark.parametrize("experiment", ["speech", "speech_joint"])
def test_speech_round_trip(experiment: str, tmp_path: Path) -> None:
    extra = DECODER if experiment == "speech_joint" else []
    task = saved_task(tmp_path / "s.ckpt", experiment, SPEECH + extra, tokenizer=TOK)
    model, tokenizer, meta = load_speech_model(tmp_path / "s.ckpt")
    assert meta["format"] == CHECKPOINT_FORMAT and meta["kind"] == "speech"
    assert meta["net"]["vocab_size"] == TOK.vocab_size and tokenizer.to_dict() == TOK.to_dict()
    assert (model.decoder is not None) == (experiment == "speech_joint")
    assert (
        meta["ctc_weight"] == task.ctc_weight and checkpoint_task(tmp_path / "s.ckpt") == "speech"
    )
    task.net.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(*waves()), task.net(*waves()), rtol=0, atol=0)


def test_language_model_round_trip(tmp_path: Path) -> None:
    overrides = ["model.net.hidden_size=16", "model.net.num_layers=1"]
    task = saved_task(tmp_path / "lm.ckpt", "speech_lm", overrides, tokenizer=TOK)
    lm = load_language_model(tmp_path / "lm.ckpt", TOK)
    assert isinstance(lm, RNNLanguageModel) and checkpoint_task(tmp_path / "lm.ckpt") == "speech_lm"
    tokens = torch.tensor([[TOK.vocab_size, 3, 4, 5]])
    with torch.no_grad():
        torch.testing.assert_close(lm(tokens), task.net.eval()(tokens), rtol=0, atol=0)


def test_video_round_trip(tmp_path: Path) -> None:
    words = list(caption_words())
    clip = {"size": 32, "num_frames": 4}
    inputs = {"classes": list(ACTIONS), "vocab": words, "clip": clip}
    task = saved_task(tmp_path / "v.ckpt", "video", VIDEO, **inputs)
    model, meta = load_video_model(tmp_path / "v.ckpt")
    assert meta["kind"] == "video" and meta["classes"] == list(ACTIONS) and meta["clip"] == clip
    assert isinstance(meta["vocab"], WordVocab) and model.concepts is not None
    assert checkpoint_task(tmp_path / "v.ckpt") == "video"
    task.net.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(*clips()), task.net(*clips()), rtol=0, atol=0)
        states = model.encoder(*clips())
        torch.testing.assert_close(
            model.caption_context(states, clips()[1])[1],
            task.net.caption_context(states, clips()[1])[1],
        )


# format 1: each network's flat constructor arguments (as `self.config` held them) and `task`
V1_SPEECH_NET = {
    "vocab_size": TOK.vocab_size,
    "sample_rate": 16000,
    "n_fft": 400,
    "hop_length": 160,
    "n_mels": 20,
    "conv_channels": 4,
    "rnn_type": "gru",
    "hidden_size": 16,
    "num_layers": 1,
    "bidirectional": True,
    "dropout": 0.1,
    "freq_masks": 1,
    "freq_width": 10,
    "time_masks": 1,
    "time_width": 20,
    "decoder": {"embed_size": 8, "hidden_size": 16, "attn_size": 8, "dropout": 0.1,
                "location_filters": 2, "location_kernel": 5},
}  # fmt: skip


def v1_recognizer() -> SpeechRecognizer:
    """The network of V1_SPEECH_NET, built part by part (the old constructor's layout)."""
    torch.manual_seed(0)
    v = TOK.vocab_size
    decoder = dict(V1_SPEECH_NET["decoder"])
    return SpeechRecognizer(
        LogMel(16000, 400, 160, 20),
        SpecAugment(1, 10, 1, 20),
        Conv2dSubsampler(20, 16, 4),
        RNNEncoder(16, 16, 1, "gru", True, 0.1),
        CTCHead(32, v),
        AttentionDecoder(v + 2, 32, **decoder, pad=0, bos=v, eos=v + 1),
    ).eval()


def test_format_1_speech_checkpoint_loads_and_predicts_the_same(tmp_path: Path) -> None:
    net = v1_recognizer()
    record = {
        "task": "speech",
        "format": 1,
        "net": V1_SPEECH_NET,
        "tokenizer": TOK.to_dict(),
        "ctc_weight": 0.3,
        "test_manifest": "test.jsonl",
    }
    path = save(tmp_path / "old.ckpt", net, record)
    model, _, meta = load_speech_model(path)
    assert meta["format"] == CHECKPOINT_FORMAT and meta["kind"] == "speech" and "task" not in meta
    assert meta["net"]["encoder"]["_target_"].endswith("RNNEncoder")
    assert meta["ctc_weight"] == 0.3 and meta["test_manifest"] == "test.jsonl"
    with torch.no_grad():
        torch.testing.assert_close(model(*waves()), net(*waves()), rtol=0, atol=0)
        states, frames = net.encode(*waves())
        tokens, lengths = torch.tensor([[3, 4, 5], [6, 7, 0]]), torch.tensor([3, 2])
        torch.testing.assert_close(
            model.attention_logits(states, frames, tokens, lengths),
            net.attention_logits(states, frames, tokens, lengths),
        )


def test_format_1_video_and_lm_checkpoints_load_and_predict_the_same(tmp_path: Path) -> None:
    torch.manual_seed(0)
    frame_args = {"channels": [4, 8, 8, 8], "out_dim": 16, "image_size": 32, "motion": True}
    frames = FrameEncoder(**frame_args)
    video = VideoEncoder(frames, RNNEncoder(16, 8, 1, "gru", True, 0.1))
    net = VideoModel(video, AttentionPoolingClassifier(16, 3, 128, 0.1)).eval()
    old_net = {"num_classes": 3, "frame_encoder": frame_args, "hidden_size": 8}  # 0.1: fewer keys
    record = {"task": "video_action", "format": 1, "net": old_net, "classes": ["a", "b", "c"],
              "vocab": None, "clip": {"size": 32}}  # fmt: skip
    model, meta = load_video_model(save(tmp_path / "video.ckpt", net, record))
    assert meta["kind"] == "video" and checkpoint_task(tmp_path / "video.ckpt") == "video"
    with torch.no_grad():
        torch.testing.assert_close(model(*clips()), net(*clips()), rtol=0, atol=0)
    lm = RNNLanguageModel(TOK.vocab_size, hidden_size=16, num_layers=1).eval()
    lm_net = {"vocab_size": TOK.vocab_size, "embed_size": 64, "hidden_size": 16, "num_layers": 1,
              "dropout": 0.2}  # fmt: skip
    record = {"task": "speech_lm", "format": 1, "net": lm_net, "tokenizer": TOK.to_dict()}
    loaded = load_language_model(save(tmp_path / "lm.ckpt", lm, record), TOK)
    tokens = torch.tensor([[TOK.vocab_size, 3, 4]])
    with torch.no_grad():
        torch.testing.assert_close(loaded(tokens), lm(tokens), rtol=0, atol=0)


def one_line_error(call: Any) -> str:
    with pytest.raises(AvseqError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("found", [CHECKPOINT_FORMAT + 1, "2", None])
def test_an_unknown_format_is_a_one_line_error(found: Any, tmp_path: Path) -> None:
    record = {"kind": "speech", "format": found, "net": {}, "tokenizer": TOK.to_dict()}
    path = save(tmp_path / "future.ckpt", nn.Linear(1, 1), record)
    message = one_line_error(lambda: load_speech_model(path))
    assert str(path) in message and f"format {found!r}" in message
    assert ", ".join(map(str, SUPPORTED_FORMATS)) in message
    assert ("upgrade avseq" in message) == (found == CHECKPOINT_FORMAT + 1)


def record_naming(target: str, tmp_path: Path) -> tuple[Path, Path]:
    """A speech checkpoint whose front-end `_target_` is `target`, called with a `command`
    that would create a file; returns (checkpoint, that file)."""
    saved_task(tmp_path / "good.ckpt", "speech", SPEECH, tokenizer=TOK)
    ckpt = torch.load(tmp_path / "good.ckpt", weights_only=True)
    marker = tmp_path / "called"
    ckpt["avseq"]["net"]["frontend"] = {"_target_": target, "command": f"touch {marker}"}
    torch.save(ckpt, tmp_path / "evil.ckpt")
    return tmp_path / "evil.ckpt", marker


@pytest.mark.parametrize("target", ["os.system", "builtins.eval", "avseq.train.train"])
def test_a_target_outside_avseqs_components_is_refused_uncalled(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[Any] = []
    monkeypatch.setattr(os, "system", lambda *a, **k: calls.append(a))
    path, marker = record_naming(target, tmp_path)
    message = one_line_error(lambda: load_speech_model(path))
    assert str(path) in message and repr(target) in message and "not an avseq component" in message
    assert calls == [] and not marker.exists()


def test_hydra_special_keys_are_refused(tmp_path: Path) -> None:
    path, _ = record_naming("avseq.features.audio.LogMel", tmp_path)
    ckpt = torch.load(path, weights_only=True)
    ckpt["avseq"]["net"]["frontend"] = {"_target_": "avseq.features.audio.LogMel", "_args_": [1]}
    torch.save(ckpt, path)
    message = one_line_error(lambda: load_speech_model(path))
    assert str(path) in message and "_args_" in message


def test_a_part_a_checkpoint_could_not_name_is_refused_when_the_task_is_built() -> None:
    net = partial(
        build_recognizer,
        frontend=partial(LogMel, n_mels=20),
        augment=None,
        subsampler=partial(Conv2dSubsampler, out_dim=8),
        encoder=partial(RNNEncoder, hidden_size=8, num_layers=1),
        head=nn.Identity,
    )
    message = one_line_error(lambda: SpeechTask(TOK, torch.optim.AdamW, net))
    assert "torch.nn.modules.linear.Identity" in message and "COMPONENTS" in message


def test_load_checkpoint_checks_the_kind(tmp_path: Path) -> None:
    saved_task(tmp_path / "s.ckpt", "speech", SPEECH, tokenizer=TOK)
    assert load_checkpoint(tmp_path / "s.ckpt", "speech")["avseq"]["kind"] == "speech"
    message = one_line_error(lambda: load_video_model(tmp_path / "s.ckpt"))
    assert "'speech' checkpoint" in message and "'video'" in message
