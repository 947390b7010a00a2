"""The built-in action-clip corpus: short MP4 clips of 2-D shapes performing actions.

Each clip shows one main object (a coloured shape) doing one of twelve actions, sometimes with a
smaller distractor object doing something else. How a clip looks is drawn widely
(`video_look`): frame size and aspect ratio, flat, gradient, textured, striped or cluttered
backgrounds, light or dark, filled, shaded or outlined objects with soft or hard edges, fades
and pops, and H.264 (several CRFs), VP9 or MPEG-4 encoding.
Ten of the twelve classes come in time-reversed pairs (move left / move right, appear /
disappear, ...) whose clips differ only in frame order, so a model has to use temporal order
to tell them apart; `video_plan.reverse_job` turns a clip's recipe into its exact time reverse.

A deterministic tenth of the (colour, shape, action) combinations never occurs as the main
object of train, val or test clips; the `test_comp` split consists only of them (a
compositional generalisation test). Every clip has several English reference captions.

The `test_other` split is drawn by another renderer (`video_heldout`: Pillow polygons on
plain noisy 320x240 frames), to tell whether a model learned the actions or this generator's
look. Neither it nor `test_comp` is used for training or model selection.

Every random choice of a clip is planned up front (`video_plan`), then clips are rendered
(`video_render`) and written (`avseq.media.video.write_mp4`) in parallel worker processes.

Layout of a corpus folder (`root/<name>-<hash>/`):
    clips/<split>/<video_id>.mp4        H.264, VP9 or MPEG-4 Part 2; yuv420p
    train.txt val.txt test.txt test_comp.txt test_other.txt
                                        lines "clips/<split>/<video_id>.mp4 <label>"
    classes.txt                         one class name per line, in label order
    captions.json                       MSR-VTT style {"info", "videos", "sentences"}
    corpus.json                         settings and statistics, written last
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

from rich.progress import Progress

from avseq.data.synth.video_heldout import (
    OTHER_RENDERER_SPLIT,
    plan_other_clip,
    render_other_clip,
)
from avseq.data.synth.video_plan import COMPOSITIONAL_SPLIT, held_out_combos, plan_jobs
from avseq.data.synth.video_plan import SPLITS as PLANNED_SPLITS
from avseq.data.synth.video_render import render_clip
from avseq.errors import AvseqError
from avseq.media.video import write_mp4
from avseq.text.video_language import ACTIONS, CAPTIONS_PER_CLIP

__all__ = [
    "COMPOSITIONAL_SPLIT",
    "GENERATOR_VERSION",
    "OTHER_RENDERER_SPLIT",
    "SPLITS",
    "VideoCorpusSpec",
    "generate_video_corpus",
]

log = logging.getLogger(__name__)

GENERATOR_VERSION = 4  # part of the corpus hash: bump when generation changes its output
SPLITS = (*PLANNED_SPLITS, OTHER_RENDERER_SPLIT)


@dataclass
class VideoCorpusSpec:
    """Settings of the built-in action-clip corpus; the output folder is named after a hash.

    Args:
        root: parent folder; the corpus goes to `root/<name>-<hash>/`.
        name: first part of the corpus folder's name.
        seed: all random choices derive from it (same seed, same corpus).
        n_train, n_val, n_test: clips per split (classes balanced within each).
        n_comp: clips of the `test_comp` split (held-out colour-shape-action combinations).
        n_other: clips of the `test_other` split (drawn by another renderer).
        size: typical short side of the frames in pixels (even, at least 32); each clip's is
            0.75, 1 or 1.25 times it, its aspect ratio 3:4 to 16:9.
        workers: parallel rendering processes (not part of the hash).
    """

    root: str = "data"
    name: str = "actions"
    seed: int = 0
    n_train: int = 6000
    n_val: int = 600
    n_test: int = 1200
    n_comp: int = 600
    n_other: int = 120
    size: int = 96
    workers: int = 2

    def __post_init__(self) -> None:
        for key in ("n_train", "n_val", "n_test", "n_comp", "n_other", "workers"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise AvseqError(f"video corpus: {key} must be a positive integer, got {value!r}")
        size = self.size
        if not isinstance(size, int) or isinstance(size, bool) or size < 32 or size % 2:
            raise AvseqError(f"video corpus: size must be an even integer >= 32, got {size!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise AvseqError(f"video corpus: seed must be an integer, got {self.seed!r}")
        if not self.name or "/" in self.name or "\\" in self.name or self.name.startswith("."):
            raise AvseqError(f"video corpus: name must be a plain folder name, got {self.name!r}")

    def settings(self) -> dict:
        """Everything that shapes the output (what the folder's hash is taken of)."""
        d = asdict(self)
        d.pop("root")
        d.pop("workers")
        d["generator"] = GENERATOR_VERSION
        return d

    @property
    def path(self) -> Path:
        """The corpus folder, `root/<name>-<first 8 hex digits of the settings' SHA-1>`."""
        digest = hashlib.sha1(json.dumps(self.settings(), sort_keys=True).encode()).hexdigest()
        return Path(self.root) / f"{self.name}-{digest[:8]}"

    def annotations(self, split: str) -> Path:
        """The `<split>.txt` annotation file (lines "clips/<split>/<id>.mp4 <label>")."""
        if split not in SPLITS:
            raise AvseqError(f"video corpus: unknown split {split!r}, expected one of {SPLITS}")
        return self.path / f"{split}.txt"

    @property
    def classes(self) -> Path:
        return self.path / "classes.txt"

    @property
    def captions(self) -> Path:
        return self.path / "captions.json"


def _write_clip(args: tuple[dict, str]) -> int:
    """Renders one (job, path) pair and writes its MP4 (in a worker); returns its size."""
    job, path = args
    if job["split"] == OTHER_RENDERER_SPLIT:
        frames, fps = render_other_clip(job)
        write_mp4(path, frames, fps, crf=23, codec="h264")
    else:
        frames, fps = render_clip(job)
        write_mp4(path, frames, fps, crf=job["quality"], codec=job["codec"])
    return os.path.getsize(path)


def _other_jobs(spec: VideoCorpusSpec) -> list[dict]:
    """The `test_other` split's plans, with the fields every job carries."""
    jobs = []
    for index in range(spec.n_other):
        plan = plan_other_clip(spec.seed, index)
        main = {k: plan[k] for k in ("colour", "shape", "action")}
        plan.update(
            video_id=f"{OTHER_RENDERER_SPLIT}_{index:06d}",
            split=OTHER_RENDERER_SPLIT,
            label=ACTIONS.index(plan["action"]),
            main=main,
            distractor=None,
            fps=25,
            num_frames=plan["frames"],
            width=320,
            height=240,
            codec="h264",
        )
        jobs.append(plan)
    return jobs


def _clip_path(job: dict) -> str:
    return f"clips/{job['split']}/{job['video_id']}.mp4"


def _remove_stale_partials(out: Path) -> None:
    """Deletes unfinished corpus folders of earlier runs whose process has ended."""
    for partial in out.parent.glob(f".{out.name}.partial-*"):
        try:
            pid = int(partial.name.rsplit("-", 1)[1])
            os.kill(pid, 0)  # signal 0 only checks that the process exists
        except (ValueError, ProcessLookupError):
            shutil.rmtree(partial, ignore_errors=True)
        except PermissionError:
            pass  # alive, another user's


def generate_video_corpus(spec: VideoCorpusSpec, force: bool = False) -> Path:
    """Generates the corpus unless one with the same settings exists; returns its folder.

    Clips are written into a hidden `.<folder>.partial-<pid>` folder that is renamed when
    everything (corpus.json last) is written, so an interrupted run never leaves a corpus
    folder that looks finished.
    """
    out = spec.path
    marker = out / "corpus.json"
    if marker.is_file() and not force:
        log.info("built-in action-clip corpus already present: %s", out)
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_partials(out)
    work = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        stats = _generate_into(spec, work)
        if out.exists():
            if (out / "corpus.json").is_file() and not force:  # a concurrent run finished
                shutil.rmtree(work)
                return out
            shutil.rmtree(out)
        work.rename(out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    log.info("action-clip corpus: %s (%s)", out, stats)
    return out


def _generate_into(spec: VideoCorpusSpec, work: Path) -> dict:
    """Writes the whole corpus into `work` (corpus.json last); returns per-split statistics."""
    jobs = plan_jobs(spec)
    jobs[OTHER_RENDERER_SPLIT] = _other_jobs(spec)
    everything = [job for split in SPLITS for job in jobs[split]]
    sizes = _render_all(spec, work, everything)
    for split in SPLITS:
        lines = [f"{_clip_path(job)} {job['label']}\n" for job in jobs[split]]
        (work / f"{split}.txt").write_text("".join(lines))
    (work / "classes.txt").write_text("".join(f"{a}\n" for a in ACTIONS))
    (work / "captions.json").write_text(json.dumps(_captions_file(spec, everything)))
    stats = {
        split: {
            "clips": len(jobs[split]),
            "frames": sum(job["num_frames"] for job in jobs[split]),
            "bytes": sum(sizes[job["video_id"]] for job in jobs[split]),
        }
        for split in SPLITS
    }
    held_out = sorted(held_out_combos(spec.seed), key=lambda c: (ACTIONS.index(c[2]), c))
    marker = {
        "settings": spec.settings(),
        "classes": list(ACTIONS),
        "splits": stats,
        "held_out": [list(c) for c in held_out],
    }
    (work / "corpus.json").write_text(json.dumps(marker, indent=2))
    return stats


def _render_all(spec: VideoCorpusSpec, work: Path, jobs: list[dict]) -> dict[str, int]:
    """Renders and writes every clip in `spec.workers` processes; returns bytes per video id."""
    for split in SPLITS:
        (work / "clips" / split).mkdir(parents=True, exist_ok=True)
    sizes: dict[str, int] = {}
    ctx = get_context("fork")
    with Progress() as progress, ctx.Pool(max(1, spec.workers)) as pool:
        task = progress.add_task(f"rendering {len(jobs)} clips -> {spec.path}", total=len(jobs))
        args = [(job, str(work / _clip_path(job))) for job in jobs]
        for job, nbytes in zip(jobs, pool.imap(_write_clip, args, chunksize=8), strict=True):
            sizes[job["video_id"]] = nbytes
            progress.advance(task)
    return sizes


def _captions_file(spec: VideoCorpusSpec, jobs: list[dict]) -> dict:
    """The MSR-VTT style contents of captions.json: {"info", "videos", "sentences"}."""
    videos, sentences = [], []
    for job in jobs:
        main, other = job["main"], job["distractor"]
        videos.append(
            {
                "video_id": job["video_id"],
                "split": job["split"],
                "path": _clip_path(job),
                "category": job["label"],
                "action": main["action"],
                "colour": main["colour"],
                "shape": main["shape"],
                "fps": job["fps"],
                "num_frames": job["num_frames"],
                "width": job["width"],
                "height": job["height"],
                "codec": job["codec"],
                "duration": round(job["num_frames"] / job["fps"], 4),
                "distractor": None
                if other is None
                else {k: other[k] for k in ("colour", "shape", "action")},
            }
        )
        for caption in job["captions"]:
            sentences.append(
                {"video_id": job["video_id"], "caption": caption, "sen_id": len(sentences)}
            )
    info = {
        "description": "avseq built-in action clips: 2-D shapes performing actions",
        "generator": GENERATOR_VERSION,
        "seed": spec.seed,
        "classes": list(ACTIONS),
        "captions_per_video": CAPTIONS_PER_CLIP,
    }
    return {"info": info, "videos": videos, "sentences": sentences}
