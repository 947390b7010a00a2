"""Running an exported folder (`avseq export`): onnxruntime for ONNX, `torch.jit.load` for
TorchScript, with the settings of its `avseq_export.json`. Decoding reuses the one CTC greedy
decoder and the one greedy caption search; only the network runs in the exported graph."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence

from avseq.decoding.beam import Hypothesis, greedy_search
from avseq.decoding.ctc import ctc_greedy_texts
from avseq.errors import AvseqError
from avseq.text.tokenizer import tokenizer_from_dict
from avseq.text.vocab import WordVocab

META_FILE = "avseq_export.json"
EXPORT_FORMAT = 1


def read_meta(folder: str | Path) -> dict[str, Any]:
    """The export's settings; a one-line error when the folder is not an avseq export."""
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise AvseqError(
            f"{folder}: no {META_FILE}; give a folder written by avseq export"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise AvseqError(f"{path}: not a readable export description ({err})") from None
    if not isinstance(meta, dict) or meta.get("export_format") != EXPORT_FORMAT:
        raise AvseqError(f"{path}: not an avseq export of format {EXPORT_FORMAT}")
    return meta


class ExportedGraphs:
    """The graphs of one exported folder, called with tensors, returning tensors."""

    def __init__(self, folder: str | Path, threads: int | None = None) -> None:
        self.folder = Path(folder)
        self.meta = read_meta(folder)
        self.format = self.meta["format"]
        self._graphs: dict[str, Any] = {}
        for name, graph in self.meta["graphs"].items():
            path = self.folder / graph["file"]
            if not path.is_file():
                raise AvseqError(f"{path}: missing; export the checkpoint again")
            self._graphs[name] = self._load(path, threads)

    def _load(self, path: Path, threads: int | None) -> Any:
        if self.format == "torchscript":
            return torch.jit.load(str(path), map_location="cpu").eval()
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def __contains__(self, name: str) -> bool:
        return name in self._graphs

    def __call__(self, name: str, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        graph = self._graphs[name]
        if self.format == "torchscript":
            with torch.inference_mode():
                return tuple(graph(*inputs))
        names = self.meta["graphs"][name]["inputs"]
        used = {i.name for i in graph.get_inputs()}  # the exporter drops inputs a graph ignores
        feed = {
            n: x.detach().cpu().numpy() for n, x in zip(names, inputs, strict=True) if n in used
        }
        return tuple(torch.from_numpy(np.asarray(o)) for o in graph.run(None, feed))


class ExportedRecognizer:
    """An exported CTC recognizer: waveforms at `sample_rate` -> log-probabilities, greedy
    transcripts."""

    def __init__(self, folder: str | Path, threads: int | None = None) -> None:
        self.graphs = ExportedGraphs(folder, threads)
        meta = self.graphs.meta
        if meta["kind"] != "speech":
            raise AvseqError(f"{folder}: an export of a {meta['kind']} model, not of a recognizer")
        self.tokenizer = tokenizer_from_dict(meta["tokenizer"])
        self.sample_rate = int(meta["sample_rate"])
        self.min_samples = int(meta["min_samples"])

    def log_probs(self, waves: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(T_i,) waveforms -> (B, F, V) CTC log-probabilities, (B,) valid frames."""
        lengths = torch.tensor([w.numel() for w in waves])
        batch = pad_sequence([w.float() for w in waves], batch_first=True)
        if batch.size(1) < self.min_samples:
            batch = torch.nn.functional.pad(batch, (0, self.min_samples - batch.size(1)))
        return self.graphs("recognizer", batch, lengths)

    def transcribe_waves(self, waves: list[torch.Tensor]) -> list[str]:
        log_probs, frames = self.log_probs(waves)
        texts = ctc_greedy_texts(log_probs, frames, self.tokenizer)
        return [" ".join(t.split()) for t in texts]


class ExportedCaptionDecoder:
    """The exported decoder step as the searches' `StepDecoder`; its start state is the
    exported encoder's output for the batch."""

    def __init__(self, graphs: ExportedGraphs, start: tuple[torch.Tensor, ...], vocab: WordVocab):
        self.graphs, self.start_state = graphs, start
        self.pad, self.bos, self.eos = vocab.pad, vocab.bos, vocab.eos
        self.vocab_size = len(vocab)

    def start(self, states, mask, concepts=None):
        keys, h, c, previous = self.start_state
        return (h, c, previous), keys

    def step(self, words, state, states, mask, keys):
        h, c, previous = state
        logp, h, c, weights = self.graphs(
            "caption_step", words, h, c, previous, states, mask.float(), keys
        )
        return logp, (h, c, weights), weights


class ExportedVideoModel:
    """An exported video model: `collate_video` batches -> class probabilities and greedy
    captions."""

    def __init__(self, folder: str | Path, threads: int | None = None) -> None:
        self.graphs = ExportedGraphs(folder, threads)
        meta = self.graphs.meta
        if meta["kind"] != "video":
            raise AvseqError(f"{folder}: an export of a {meta['kind']} model, not of a video model")
        self.classes: list[str] = list(meta["classes"])
        self.vocab = WordVocab.from_dict(meta["vocab"]) if meta.get("vocab") else None
        self.clip = meta["clip"]

    def predict_batch(self, batch: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (B, K) probabilities (views averaged), (B * views, T) attention weights."""
        probs, weights = self.graphs("action", batch["frames"], batch["lengths"])
        views = batch["views"]
        averaged = probs.view(-1, views, probs.size(-1)).mean(1) if views > 1 else probs
        return averaged, weights

    def caption_batch(self, batch: dict[str, Any], max_words: int = 20) -> list[Hypothesis]:
        """Greedy captions of a one-view batch."""
        if self.vocab is None:
            raise AvseqError("this export has no caption decoder")
        states, mask, keys, h, c, previous = self.graphs(
            "caption_encoder", batch["frames"], batch["lengths"]
        )
        decoder = ExportedCaptionDecoder(self.graphs, (keys, h, c, previous), self.vocab)
        return greedy_search(decoder, states, mask > 0.5, max_words)
