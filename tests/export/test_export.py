"""`avseq export`: ONNX and TorchScript graphs that give PyTorch's outputs on any batch and
length, checked by onnxruntime; the parity check that catches a model that differs; clear
errors for what cannot be exported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from avseq.cli.main import main
from avseq.errors import AvseqError
from avseq.export.parity import parity_ok, speech_parity
from avseq.export.runtime import ExportedRecognizer, ExportedVideoModel, read_meta
from avseq.inference.speech import Transcriber
from avseq.inference.video import ActionClassifier, VideoCaptioner
from avseq.media.clips import clip_views, collate_video

pytestmark = pytest.mark.slow


def export(checkpoint: Path, fmt: str, out: Path, capsys, check: int = 100) -> str:
    code = main(
        [
            *("export", "--checkpoint", str(checkpoint), "--format", fmt),
            *("--output", str(out), "--check", str(check)),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return captured.out


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_speech_export_gives_pytorchs_log_probs_and_transcripts(
    tiny_speech_checkpoint: Path, tmp_path: Path, fmt: str, capsys
) -> None:
    out = export(tiny_speech_checkpoint, fmt, tmp_path / "speech", capsys)
    assert "transcripts identical" in out
    meta = read_meta(tmp_path / "speech")
    assert meta["parity"]["items"] > 0
    assert meta["parity"]["identical"] == meta["parity"]["items"]
    assert meta["parity"]["max_abs_diff"] < 1e-3
    assert meta["tokenizer"]["type"] == "char" and meta["sample_rate"] == 16000

    exported = ExportedRecognizer(tmp_path / "speech")
    transcriber = Transcriber(tiny_speech_checkpoint, "cpu")
    rng = np.random.default_rng(0)
    # batch and time are dynamic: other batch sizes and lengths than the traced example,
    # one shorter than an FFT window
    for lengths in ([8000], [24000, 5000, 200], [40000, 16000]):
        waves = [torch.from_numpy(rng.normal(0, 0.1, n).astype(np.float32)) for n in lengths]
        log_probs, frames = exported.log_probs(waves)
        with torch.inference_mode():
            padded = torch.nn.utils.rnn.pad_sequence(waves, batch_first=True)
            padded = torch.nn.functional.pad(padded, (0, max(0, 400 - padded.size(1))))
            logits, ref_frames = transcriber.model(padded, torch.tensor(lengths))
        assert frames.tolist() == ref_frames.tolist()
        for i, n in enumerate(frames.tolist()):
            diff = (log_probs[i, :n] - logits[i, :n].log_softmax(-1)).abs().max()
            assert float(diff) < 1e-4
        assert exported.transcribe_waves(waves) == transcriber.transcribe_waves(waves)


def some_clips(spec, n: int = 3) -> list[np.ndarray]:
    """Frame arrays of a few test videos at different lengths."""
    from avseq.media.video import read_clip

    paths = sorted(Path(spec.root).rglob("*.mp4"))[:n]
    return [read_clip(p, 32)[: 8 + 3 * i] for i, p in enumerate(paths)]


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_video_export_gives_pytorchs_labels_and_greedy_captions(
    tiny_video_checkpoint: Path, tiny_video_corpus, tmp_path: Path, fmt: str, capsys
) -> None:
    out = export(tiny_video_checkpoint, fmt, tmp_path / "video", capsys)
    assert "labels identical" in out and "greedy captions identical" in out
    meta = json.loads((tmp_path / "video" / "avseq_export.json").read_text())
    assert set(meta["graphs"]) == {"action", "caption_encoder", "caption_step"}
    parity = meta["parity"]
    assert parity["labels"]["identical"] == parity["items"] > 0
    assert parity["captions"]["identical"] == parity["items"]

    exported = ExportedVideoModel(tmp_path / "video")
    classifier = ActionClassifier(tiny_video_checkpoint, "cpu", views=2)
    captioner = VideoCaptioner(tiny_video_checkpoint, "cpu", beam=1)
    clips = some_clips(tiny_video_corpus)
    for views in (1, 2):  # clips of different lengths padded together; views averaged
        items = [
            {"frames": clip_views(c, classifier.num_frames, views, False), "label": 0, "path": ""}
            for c in clips
        ]
        batch = collate_video(items)
        want, _ = classifier.predict_batch(batch)
        have, _ = exported.predict_batch(batch)
        assert float((want - have).abs().max()) < 1e-4
        assert want.argmax(-1).tolist() == have.argmax(-1).tolist()
        if views == 1:
            want_caps = [captioner.text(h[0]) for h in captioner.decode_batch(batch)]
            have_caps = [exported.vocab.decode(h.tokens) for h in exported.caption_batch(batch)]
            assert want_caps == have_caps


def test_the_parity_check_catches_a_model_that_differs(
    tiny_speech_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    export(tiny_speech_checkpoint, "onnx", tmp_path / "speech", capsys, check=0)
    ckpt = torch.load(tiny_speech_checkpoint, map_location="cpu", weights_only=True)
    head = next(k for k in ckpt["state_dict"] if k.endswith("head.proj.weight"))
    ckpt["state_dict"][head] = ckpt["state_dict"][head] * 2.0
    changed = tmp_path / "changed.ckpt"
    torch.save(ckpt, changed)
    report = speech_parity(changed, tmp_path / "speech", limit=8, batch_size=8)
    assert report["max_abs_diff"] > 1e-3
    assert not parity_ok(report)


def test_what_cannot_be_exported_gets_one_line(
    tiny_speech_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    not_ckpt = tmp_path / "notes.ckpt"
    not_ckpt.write_text("not a checkpoint")
    a_file = tmp_path / "taken"
    a_file.write_text("")
    cases = [
        (["--checkpoint", str(not_ckpt), "--output", str(tmp_path / "o")], "notes.ckpt"),
        (["--checkpoint", str(tiny_speech_checkpoint), "--output", str(a_file)], "not a folder"),
        (
            ["--checkpoint", str(tiny_speech_checkpoint), "--format", "tflite", "--output", "x"],
            "invalid choice",
        ),
    ]
    for args, expected in cases:
        assert main(["export", *args]) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1 and "Traceback" not in err
    with pytest.raises(AvseqError, match=r"no avseq_export\.json"):
        ExportedRecognizer(tmp_path)
