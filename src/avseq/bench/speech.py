"""Speech training throughput: the Lightning pipeline vs a plain PyTorch loop on the same batches.

    python -m avseq.bench.speech [--steps 30] [--repeats 2] [--device auto] [--seconds S]
                                 [--preset deepspeech2] [key=value ...]

Both loops run the same `SpeechRecognizer` (from the composed config, overrides allowed), the same
pre-loaded batches, AdamW, float32 CTC and clip-by-norm, in this process. Prints audio seconds per
wall second for each, their ratio, the transcription real-time factor of the saved checkpoint,
and the cost of the training-time augmentation chain per audio second. `--seconds S` joins the
corpus's utterances end to end into items of about S seconds (LibriSpeech-length batches from
short utterances); `--preset deepspeech2` is the DeepSpeech2-size setting: a 5x1024 BiLSTM
encoder, batches of 64 items of 10 s.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate

from avseq.bench.common import compare
from avseq.config import load_config
from avseq.data.speech.dataset import collate_speech
from avseq.inference.speech import Transcriber
from avseq.media.audio import load_audio
from avseq.models.components.ctc_head import ctc_loss
from avseq.utils.device import pick_device

PRESETS = {
    "deepspeech2": (
        10.0,
        [
            "model.net.encoder.rnn_type=lstm",
            "model.net.encoder.hidden_size=1024",
            "model.net.encoder.num_layers=5",
            "data.batch_size=64",
        ],
    ),
}
KEYS = ("waves", "wave_lengths", "tokens", "token_lengths", "skipped")


def load_batches(cfg, steps: int, seconds: float | None = None) -> tuple[list[dict], object]:
    """`steps` training batches, pre-loaded; with `seconds`, each item the next utterances
    joined end to end (their transcripts by a space) until it lasts `seconds`."""
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    dm.trainer = None
    size = int(cfg.data.batch_size)
    batches, items, waves, texts, samples = [], [], [], [], 0
    for batch in dm.train_dataloader():
        if seconds is None:
            batches.append({k: batch[k] for k in KEYS})
            if len(batches) == steps:
                break
            continue
        for i in range(batch["waves"].size(0)):
            waves.append(batch["waves"][i, : batch["wave_lengths"][i]])
            texts.append(batch["texts"][i])
            samples += waves[-1].numel()
            if samples >= seconds * dm.sample_rate:
                text = " ".join(texts)
                tokens = torch.tensor(dm.tokenizer.encode(text), dtype=torch.long)
                items.append({"wave": torch.cat(waves), "tokens": tokens, "text": text, "path": ""})
                waves, texts, samples = [], [], 0
            if len(items) == size:
                batches.append({k: v for k, v in collate_speech(items).items() if k in KEYS})
                items = []
        if len(batches) >= steps:
            break
    return batches[:steps], dm


def seconds_of(batches: list[dict], sample_rate: int) -> float:
    return sum(int(b["wave_lengths"].sum()) for b in batches) / sample_rate


def ctc_step(net: torch.nn.Module, batch: dict) -> torch.Tensor:
    logits, frames = net(batch["waves"], batch["wave_lengths"])
    return ctc_loss(logits, frames, batch["tokens"], batch["token_lengths"])


def augmentation_cost(dm, count: int = 100) -> float | None:
    """Milliseconds of the training augmentation chain per second of audio, on one thread,
    over the first `count` training utterances (None when augmentation is off)."""
    augment = dm.augment
    if augment is None:
        return None
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in a data worker
    try:
        utts = dm.datasets["train"].utterances[:count]
        waves = [load_audio(u.audio_filepath, dm.sample_rate) for u in utts]
        augment(waves[0], torch.Generator().manual_seed(0))  # builds the chain and room bank
        start = time.perf_counter()
        for i, wave in enumerate(waves):
            augment(wave, torch.Generator().manual_seed(i))
        elapsed = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return 1000 * elapsed / (sum(w.numel() for w in waves) / dm.sample_rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default=None, help="default: 16-mixed on GPU, else 32-true")
    parser.add_argument("--seconds", type=float, default=None, help="join utterances to S s")
    parser.add_argument("--preset", choices=sorted(PRESETS), default=None)
    args, overrides = parser.parse_known_args()
    device = pick_device(args.device)
    precision = args.precision or ("16-mixed" if device.type == "cuda" else "32-true")
    seconds, preset = PRESETS[args.preset] if args.preset else (None, [])
    seconds = args.seconds if args.seconds is not None else seconds
    cfg = load_config(["experiment=speech", *preset, *overrides])
    clip = float(cfg.trainer.gradient_clip_val)
    batches, dm = load_batches(cfg, args.steps + args.warmup, seconds)
    if len(batches) < args.steps + args.warmup:
        raise SystemExit(f"the corpus gives {len(batches)} batches; lower --steps or --seconds")
    sr = cfg.data.sample_rate
    timed = seconds_of(batches[args.warmup :], sr)
    L.seed_everything(0, verbose=False)
    task = instantiate(cfg.model, **dm.task_inputs())
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "bench.ckpt"
        plain_s, light_s = compare(
            task, ctc_step, batches, device, precision, clip, args.warmup, args.repeats, ckpt
        )
        transcriber = Transcriber(ckpt, str(device), batch_size=32)
        waves = [
            b["waves"][i, : b["wave_lengths"][i]]
            for b in batches[:4]
            for i in range(b["waves"].size(0))
        ]
        transcriber.transcribe_waves(waves[:8])  # warm-up
        transcriber.audio_seconds = transcriber.compute_seconds = 0.0
        transcriber.transcribe_waves(waves)
    rtf = transcriber.compute_seconds / transcriber.audio_seconds
    augment_ms = augmentation_cost(dm)
    enc = cfg.model.net.encoder
    print(
        f"device: {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}, "
        f"{torch.get_num_threads()} threads), precision {precision}"
    )
    print(
        f"model: {enc.num_layers}x{enc.hidden_size} {'bi' if enc.bidirectional else ''}"
        f"{enc.rnn_type}, batches of {cfg.data.batch_size}, {args.steps} timed steps "
        f"({timed:.0f} s of audio), best of {args.repeats} alternating runs"
    )
    print(f"plain PyTorch loop : {timed / plain_s:8.1f} audio s / wall s")
    print(f"Lightning pipeline : {timed / light_s:8.1f} audio s / wall s")
    print(f"ratio Lightning / plain: {plain_s / light_s:.3f}")
    print(f"transcription: real-time factor {rtf:.4f} ({1 / rtf:.0f}x faster than real time)")
    if augment_ms is not None:
        share = augment_ms / 1000 * (timed / light_s)  # augmentation s per training wall s
        print(
            f"augmentation (data.augment, 1 thread): {augment_ms:.2f} ms per audio second, "
            f"{100 * share:.1f}% of one core at the Lightning pipeline's training speed"
        )


if __name__ == "__main__":
    main()
