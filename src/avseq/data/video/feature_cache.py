"""Frame features computed once by a frozen frame encoder, cached on disk, reused every epoch.

With `model.net.frame_encoder.freeze=true` the frame CNN never changes, so running it on every
frame of every epoch is wasted work. `FrameFeatureCache` (a Lightning callback) runs it once per
split after the data is set up, saves (T, D) features per clip, and swaps the split's dataset
for one that serves those features; training then only runs the recurrent encoder and head.
Clips are sampled at segment centres (no temporal jitter) when features are cached.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from avseq.data.video.dataset import VideoClipDataset
from avseq.media.clips import collate_video

log = logging.getLogger(__name__)
STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}


class CachedFeatureDataset(Dataset):
    """Serves {"features": (T, D) float, "label", "path"} from a cache file's contents, plus
    the captions of `source`'s clips when it has a vocabulary."""

    def __init__(self, data: dict[str, Any], source: VideoClipDataset | None = None) -> None:
        self.features: list[torch.Tensor] = data["features"]
        self.labels: list[int] = data["labels"]
        self.paths: list[str] = data["paths"]
        self.source = source
        self.clips = {str(c.path): c for c in source.clips} if source is not None else {}

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        """An item by index, or by `(index, seed)` (the caption drawn from that seed)."""
        index, seed = key if isinstance(key, tuple) else (key, None)
        item = {
            "features": self.features[index].float(),
            "label": self.labels[index],
            "path": self.paths[index],
        }
        clip = self.clips.get(self.paths[index])
        if clip is None:
            return item
        return self.source.add_captions(item, clip, np.random.default_rng(seed))


def _key(frames_module: torch.nn.Module, dataset: VideoClipDataset) -> str:
    digest = hashlib.sha1()
    for name, tensor in sorted(frames_module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(f"{dataset.size}/{dataset.num_frames}".encode())
    for clip in dataset.clips:
        digest.update(f"{clip.path}\t{clip.label}\n".encode())
    return digest.hexdigest()[:16]


@torch.inference_mode()
def compute_features(
    encoder: torch.nn.Module, dataset: VideoClipDataset, device: torch.device, workers: int
) -> dict[str, Any]:
    """Features of every readable clip (bad videos are skipped and counted)."""
    clips = VideoClipDataset(dataset.clips, dataset.size, dataset.num_frames, skip_bad=True)
    loader = DataLoader(clips, batch_size=32, collate_fn=collate_video, num_workers=workers)
    out: dict[str, Any] = {"features": [], "labels": [], "paths": [], "skipped": 0}
    for batch in loader:
        out["skipped"] += batch["skipped"]
        if "frames" not in batch:
            continue
        lengths = batch["lengths"]
        feats = encoder.frame_features(batch["frames"].to(device), lengths.to(device)).cpu()
        for f, n in zip(feats, lengths.tolist(), strict=True):
            out["features"].append(f[:n].half().clone())
        out["labels"] += batch["labels"].tolist()
        out["paths"] += batch["paths"]
    return out


class FrameFeatureCache(L.Callback):
    """Caches frozen frame-encoder features per split in `dirpath` (no-op when not frozen)."""

    def __init__(self, dirpath: str, workers: int = 2) -> None:
        self.dirpath = Path(dirpath)
        self.workers = workers

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        encoder = getattr(getattr(pl_module, "net", None), "encoder", None)
        if encoder is None or not getattr(encoder.frames, "frozen", False):
            return
        datamodule = trainer.datamodule
        device = trainer.strategy.root_device
        for split in STAGE_SPLITS.get(stage, ()):
            dataset = datamodule.datasets.get(split)
            if not isinstance(dataset, VideoClipDataset):
                continue
            path = self.dirpath / f"{split}-{_key(encoder.frames, dataset)}.pt"
            if path.is_file():
                data = torch.load(path, map_location="cpu", weights_only=True)
                log.info("%s: frame features from the cache %s", split, path)
            else:
                moved = encoder.frames.to(device)
                data = compute_features(encoder, dataset, device, self.workers)
                moved.to("cpu")
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{trainer.global_rank}.tmp")
                torch.save(data, tmp)
                tmp.replace(path)
                log.info(
                    "%s: cached frame features of %d clips (%d unreadable skipped) in %s",
                    split,
                    len(data["labels"]),
                    data["skipped"],
                    path,
                )
            datamodule.datasets[split] = CachedFeatureDataset(data, dataset)
