"""`avseq export`: a checkpoint's networks as ONNX graphs (TorchScript exporter, opset 17: the
recurrent layers become ONNX's own LSTM/GRU/RNN operators with a dynamic time axis) or as
traced TorchScript modules, with an `avseq_export.json` holding what a runtime needs besides
the graphs (units, classes, vocabulary, clip sampling, sample rate), then a parity check
against PyTorch on the checkpoint's test split.

Files are written beside their final name and renamed, so a crash never leaves a half-written
model behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from avseq.errors import AvseqError
from avseq.export.graphs import GraphSpec, speech_graphs, video_graphs
from avseq.export.parity import parity_lines, parity_ok, speech_parity, video_parity
from avseq.export.runtime import EXPORT_FORMAT, META_FILE
from avseq.models.checkpoint import checkpoint_task, load_speech_model, load_video_model
from avseq.utils.io import check_writable_dir, write_text_atomic

log = logging.getLogger(__name__)
FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
OPSET = 17


def _write_graph(spec: GraphSpec, fmt: str, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings():  # tracer notes on Python-side shapes; checked by parity
        warnings.simplefilter("ignore")
        if fmt == "onnx":
            torch.onnx.export(
                spec.graph,
                spec.example,
                str(tmp),
                input_names=list(spec.inputs),
                output_names=list(spec.outputs),
                dynamic_axes=spec.inputs | spec.outputs,
                opset_version=OPSET,
                dynamo=False,
            )
            import onnx

            onnx.checker.check_model(str(tmp))
        else:
            with torch.no_grad():
                torch.jit.trace(spec.graph, spec.example, check_trace=False).save(str(tmp))
    tmp.replace(path)


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _speech(checkpoint: str | Path) -> tuple[list[GraphSpec], dict[str, Any]]:
    model, tokenizer, meta = load_speech_model(checkpoint, "cpu")
    if meta.get("ctc_weight", 1.0) <= 0:
        raise AvseqError(
            f"{checkpoint}: an attention-only recognizer (ctc_weight 0) has no trained CTC head "
            "to export"
        )
    fields = {
        "tokenizer": tokenizer.to_dict(),
        "blank": tokenizer.blank,
        "sample_rate": model.sample_rate,
        "min_samples": model.features.n_fft,
        "frame_seconds": model.frame_seconds,
        "test_manifest": meta.get("test_manifest"),
    }
    return speech_graphs(model), fields


def _video(checkpoint: str | Path) -> tuple[list[GraphSpec], dict[str, Any]]:
    model, meta = load_video_model(checkpoint, "cpu")
    clip = meta.get("clip") or {}
    size, num_frames = int(clip.get("size", 64)), int(clip.get("num_frames", 16))
    vocab = meta.get("vocab")
    fields = {
        "classes": list(meta["classes"]),
        "vocab": vocab.to_dict() if vocab is not None else None,
        "clip": {"size": size, "num_frames": num_frames, "seconds": clip.get("seconds")},
        "frames": "uint8 RGB (B, T, 3, size, size), T sampled evenly over the clip",
    }
    return video_graphs(model, size, num_frames), fields


def export_checkpoint(
    checkpoint: str | Path,
    fmt: str,
    output: str | Path,
    check: int = 8,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Exports `checkpoint` into the folder `output` and checks it on `check` test items.

    Returns:
        The export description written to `output/avseq_export.json` (with "parity").

    Raises:
        AvseqError: a bad checkpoint, an unwritable folder, or outputs that differ from
            PyTorch's (the files stay, the message says by how much).
    """
    if fmt not in FORMATS:
        raise AvseqError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    out = Path(output)
    check_writable_dir(out, "--output")
    kind = checkpoint_task(checkpoint)
    if kind == "speech_lm":
        raise AvseqError(
            f"{checkpoint}: a language-model checkpoint; export the recognizer it decodes with"
        )
    if kind not in ("speech", "video"):
        raise AvseqError(f"{checkpoint}: a {kind} checkpoint; export takes speech and video ones")
    specs, fields = _speech(checkpoint) if kind == "speech" else _video(checkpoint)
    out.mkdir(parents=True, exist_ok=True)
    graphs = {}
    for spec in specs:
        path = out / f"{spec.name}{FORMATS[fmt]}"
        _write_graph(spec, fmt, path)
        graphs[spec.name] = {
            "file": path.name,
            "inputs": list(spec.inputs),
            "outputs": list(spec.outputs),
            "dynamic_axes": {k: v for k, v in (spec.inputs | spec.outputs).items()},
        }
        log.info("wrote %s", path)
    meta = {
        "export_format": EXPORT_FORMAT,
        "kind": kind,
        "format": fmt,
        "opset": OPSET if fmt == "onnx" else None,
        "checkpoint": str(checkpoint),
        "checkpoint_sha256": _sha256(checkpoint),
        "graphs": graphs,
        **fields,
    }
    write_text_atomic(out / META_FILE, json.dumps(meta, indent=2) + "\n")
    print(f"exported {kind} model ({', '.join(graphs)}) as {fmt} to {out}")
    if check:
        run = speech_parity if kind == "speech" else video_parity
        report = run(checkpoint, out, check, batch_size)
        if report is None:
            print("parity check skipped: the checkpoint records no test split that exists here")
            return meta
        meta["parity"] = report
        write_text_atomic(out / META_FILE, json.dumps(meta, indent=2) + "\n")
        print("\n".join(parity_lines(report)))
        if not parity_ok(report):
            raise AvseqError(
                f"{out}: the exported model's outputs differ from PyTorch's (see above and "
                f"{out / META_FILE})"
            )
    return meta
