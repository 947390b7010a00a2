"""Video training throughput: the Lightning pipeline vs a plain PyTorch loop on the same batches,
the share of time the real pipeline waits for data, and classification and captioning speed.

    python -m avseq.bench.video [--steps 20] [--repeats 2] [--device auto] [key=value ...]

1. Both loops run the same `VideoModel` (the joint model of `experiment=video`, overrides
   allowed) on the same pre-loaded batches: AdamW, action + caption cross-entropy,
   clip-by-norm, in this process.
2. The Lightning pipeline then trains from the real DataLoader (decoding in worker processes)
   and the gaps between steps are counted as waiting for data.
3. `ActionClassifier` labels test clips from their files (decoding included), and
   `VideoCaptioner` captions them, greedy and with a beam of 5.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate

from avseq.bench.common import StepTimer, compare, lightning_trainer
from avseq.config import load_config
from avseq.inference.video import ActionClassifier, VideoCaptioner
from avseq.utils.device import pick_device


def video_step(net: torch.nn.Module, batch: dict) -> torch.Tensor:
    """The joint loss, as `VideoTask` computes it with unit weights."""
    states = net.encoder(batch["frames"], batch["lengths"])
    loss = states.new_zeros((), dtype=torch.float)
    if net.head is not None:
        logits, _ = net.classify(states, batch["lengths"])
        loss = loss + F.cross_entropy(logits.float(), batch["labels"])
    if net.decoder is not None and "tokens" in batch:
        mask, concept_logits = net.caption_context(states, batch["lengths"])
        logits, _ = net.decoder(states, mask, batch["tokens"], 0.0, concept_logits)
        loss = loss + F.cross_entropy(
            logits.float().flatten(0, 1), batch["tokens"][:, 1:].flatten(), ignore_index=0
        )
        if concept_logits is not None:  # the concept loss (targets here: the batch's caption)
            target = torch.zeros_like(concept_logits, dtype=torch.float)
            target.scatter_(1, batch["tokens"], 1.0)
            loss = loss + F.binary_cross_entropy_with_logits(concept_logits.float(), target)
    return loss


def files_per_second(run, paths: list) -> float:
    run(paths[0])  # warm-up
    start = time.perf_counter()
    for path in paths:
        run(path)
    return len(paths) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--classify-clips", type=int, default=64)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default=None, help="default: 16-mixed on GPU, else 32-true")
    args, overrides = parser.parse_known_args()
    device = pick_device(args.device)
    precision = args.precision or ("16-mixed" if device.type == "cuda" else "32-true")
    cfg = load_config(["experiment=video", *overrides])
    clip = float(cfg.trainer.gradient_clip_val)
    dm = instantiate(cfg.data)
    dm.prepare_data()
    dm.setup("fit")
    steps = args.steps + args.warmup
    batches = []
    for batch in dm.train_dataloader():
        batches.append(batch)
        if len(batches) == steps:
            break
    timed = sum(b["labels"].numel() for b in batches[args.warmup :])
    L.seed_everything(0, verbose=False)
    task = instantiate(cfg.model, **dm.task_inputs())
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "bench.ckpt"
        plain_s, light_s = compare(
            task, video_step, batches, device, precision, clip, args.warmup, args.repeats, ckpt
        )
        # the real pipeline: batches decoded by DataLoader workers while the model trains
        timer = StepTimer(args.warmup)
        trainer = lightning_trainer(device, precision, clip, steps, timer)
        dm.trainer = None
        trainer.fit(task, train_dataloaders=dm.train_dataloader())
        real_clips = cfg.data.batch_size * args.steps
        dm.setup("test")
        paths = [c.path for c in dm.datasets["test"].clips[: args.classify_clips]]
        speed = {}
        if task.classes:
            classifier = ActionClassifier(ckpt, str(device))
            speed["classification"] = files_per_second(classifier.classify_file, paths)
        if task.vocab is not None:
            for beam in (1, 5):
                captioner = VideoCaptioner(ckpt, str(device), beam=beam)
                name = "captioning, greedy" if beam == 1 else f"captioning, beam {beam}"
                speed[name] = files_per_second(captioner.caption_file, paths)
    net = cfg.model.net
    enc = net.encoder
    print(
        f"device: {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else 'CPU'}, "
        f"{torch.get_num_threads()} threads), precision {precision}"
    )
    heads = " + ".join(
        name for name, on in (("action head", task.classes), ("caption decoder", task.vocab)) if on
    )
    print(
        f"model: {net.frame_encoder.kind} frame encoder + {enc.num_layers}x{enc.hidden_size} "
        f"{'bi' if enc.bidirectional else ''}{enc.rnn_type} + {heads}; "
        f"batches of {cfg.data.batch_size} "
        f"clips x {cfg.data.num_frames} frames of {cfg.data.size}px; {args.steps} timed steps, "
        f"best of {args.repeats} alternating runs"
    )
    print(f"plain PyTorch loop : {timed / plain_s:8.1f} clips / s (batches in memory)")
    print(f"Lightning pipeline : {timed / light_s:8.1f} clips / s (batches in memory)")
    print(f"ratio Lightning / plain: {plain_s / light_s:.3f}")
    print(
        f"real pipeline ({cfg.data.num_workers} decoding workers): "
        f"{real_clips / timer.seconds:8.1f} clips / s, waiting for data "
        f"{100 * timer.wait / timer.seconds:.1f}% of the time"
    )
    for name, rate in speed.items():
        print(f"{name} (one file at a time, decoding included): {rate:.1f} videos / s")


if __name__ == "__main__":
    main()
