"""Lightning data module for video: labelled clips in, padded batches of sampled frames out."""

from __future__ import annotations

import logging
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch.utils.data import DataLoader

from avseq.data.base import SplitDataModule, check_policy, report_bad_items
from avseq.data.check import check_clips
from avseq.data.sampler import batch_loader
from avseq.data.synth.video import VideoCorpusSpec, generate_video_corpus
from avseq.data.synth.video_plan import BUILTIN_CLIP_SECONDS
from avseq.data.video.annotations import Clip, load_annotations
from avseq.data.video.augment import VideoAugment
from avseq.data.video.captions import CaptionedVideo, load_captions
from avseq.data.video.dataset import VideoClipDataset
from avseq.errors import AvseqError
from avseq.media.clips import collate_video
from avseq.media.video import BACKENDS, video_info
from avseq.text.video_language import ACTIONS, caption_words
from avseq.text.vocab import WordVocab

log = logging.getLogger(__name__)
SPLITS = ("train", "val", "test")


class VideoDataModule(SplitDataModule):
    """Labelled and/or captioned videos from annotation files, UCF101 split files, class
    folders or an MSR-VTT-style captions JSON — or the built-in clips when `corpus` is set.

    Args:
        corpus: built-in clip settings; generated in `prepare_data` when missing. Its
            annotation files are used for any split not given.
        train_annotations, val_annotations, test_annotations: your own data: a `path label`
            file, a UCF101 `trainlist0N.txt`/`testlist0N.txt`, or a folder-per-class tree.
        classes: class names in index order, or a file of them (default: beside the files).
        captions: an MSR-VTT-style captions JSON (default: the built-in clips' own). Its
            captions are joined to the annotation files' videos by path; a split with no
            annotation file takes the JSON's videos of that split (unlabelled).
        video_root: folder relative video paths point into (default: the annotation's folder).
        size: frame side after resizing the short side and centre-cropping.
        num_frames: frames sampled evenly over each clip.
        batch_size, eval_batch_size: clips per batch.
        num_workers: DataLoader processes (they decode and sample frames).
        on_bad_item: "skip" leaves out (and counts) bad lines and unreadable videos as they are
            met; "check" decodes every video before training and stops with the problems.
        decoder: "pyav" (default; bundled FFmpeg) or "torchcodec" (optional package).
        max_caption_words: training captions are cut to this many words.
        vocab_min_count: a word enters the caption vocabulary when it occurs at least this
            often in the training captions (rarer words become `<unk>`).
        seed: the training shuffle's seed; each clip's random draws derive from it, the
            epoch and the clip (exact on resume).
        augment: training-time augmentation of the training clips (None: none).
    """

    def __init__(
        self,
        corpus: VideoCorpusSpec | None = None,
        train_annotations: str | None = None,
        val_annotations: str | None = None,
        test_annotations: str | None = None,
        classes: str | list[str] | None = None,
        captions: str | None = None,
        video_root: str | None = None,
        size: int = 64,
        num_frames: int = 16,
        batch_size: int = 32,
        eval_batch_size: int = 64,
        num_workers: int = 2,
        on_bad_item: str = "skip",
        decoder: str = "pyav",
        max_caption_words: int = 30,
        vocab_min_count: int = 1,
        seed: int = 0,
        augment: VideoAugment | None = None,
    ) -> None:
        super().__init__()
        self.augment = augment
        check_policy(on_bad_item)
        if size < 16 or num_frames < 1:
            raise AvseqError(f"bad clip settings: size={size} (>= 16), num_frames={num_frames}")
        self.corpus = corpus
        given = {"train": train_annotations, "val": val_annotations, "test": test_annotations}
        self.sources: dict[str, Path | None] = {
            split: Path(p) if p else (corpus.annotations(split) if corpus else None)
            for split, p in given.items()
        }
        self.classes_arg = classes
        self.captions_path: Path | None = (
            Path(captions) if captions else (corpus.captions if corpus else None)
        )
        self.max_caption_words = max_caption_words
        self.vocab_min_count = vocab_min_count
        self.vocab: WordVocab | None = None
        self._captions: dict[str, CaptionedVideo] | None = None
        self.video_root = video_root
        self.size = size
        self.num_frames = num_frames
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.on_bad_item = on_bad_item
        if decoder not in BACKENDS:
            raise AvseqError(f"data.decoder must be one of {BACKENDS}, got {decoder!r}")
        self.decoder = decoder
        self.classes: list[str] | None = None
        self.clip_seconds: float | None = None
        self.datasets: dict[str, VideoClipDataset] = {}

    def prepare_data(self) -> None:
        if self.corpus is not None:
            generate_video_corpus(self.corpus)

    def has_split(self, split: str) -> bool:
        if self.sources.get(split) is not None:
            return True
        return self.captions_path is not None and any(
            v.split == split for v in self._caption_videos().values()
        )

    def _builtin_train(self) -> bool:
        return self.corpus is not None and self.sources["train"] == self.corpus.annotations("train")

    def _builtin_captions(self) -> bool:
        return self.corpus is not None and self.captions_path == self.corpus.captions

    def _classes(self) -> list[str]:
        if self.classes is None:  # the training list decides the classes
            if self._builtin_train() and self.classes_arg is None:  # known before generation
                self.classes = list(ACTIONS)
            elif self.sources["train"] is None and self.captions_path is not None:
                self.classes = []  # captions only
            else:
                _, self.classes, _ = self._read("train", None)
        return self.classes

    def _caption_videos(self) -> dict[str, CaptionedVideo]:
        """The captions file's videos (read once; its problems reported per the policy)."""
        if self._captions is None:
            assert self.captions_path is not None
            root = None if self._builtin_captions() else self.video_root
            self._captions, problems = load_captions(self.captions_path, root, on_error="skip")
            report_bad_items(self.captions_path, problems, self.on_bad_item)
        return self._captions

    def _ensure_vocab(self) -> None:
        """Builds the caption vocabulary once, when there are captions."""
        if self.vocab is None and self.captions_path is not None:
            self.vocab = WordVocab(self._vocab_tokens() or [])

    def _vocab_tokens(self) -> list[str] | None:
        """Caption words: from the training captions (with min-count), or for the built-in
        clips every word their generator can write (known before generation)."""
        if self.captions_path is None:
            return None
        if self._builtin_captions():
            return caption_words()
        train = [
            c for v in self._caption_videos().values() if v.split == "train" for c in v.captions
        ]
        if not train:
            raise AvseqError(f"{self.captions_path}: no captioned videos in the 'train' split")
        return WordVocab.build(train, self.vocab_min_count).itos[4:]

    def _with_captions(self, clips: list[Clip], split: str) -> list[Clip]:
        """Joins captions to annotated clips by path, or takes the split's captioned videos."""
        if self.captions_path is None:
            return clips
        videos = self._caption_videos()
        if self.sources[split] is None:
            return [v.clip() for v in videos.values() if v.split == split]
        by_path = {v.path.resolve(): v.captions for v in videos.values()}
        return [replace(c, captions=by_path.get(c.path.resolve(), ())) for c in clips]

    def _read(self, split: str, classes: list[str] | None) -> tuple[list[Clip], list[str], list]:
        source = self.sources[split]
        if source is None:
            raise AvseqError(f"no {split} videos: set data.{split}_annotations=FILE_OR_FOLDER")
        cls = classes if classes is not None else self.classes_arg
        return load_annotations(source, cls, self.video_root, on_error="skip")

    def load_split(self, split: str) -> list[Clip]:
        """A split's clips (with captions when there are any), with the bad-item policy
        applied."""
        source = self.sources[split]
        if source is None and self.captions_path is not None:
            clips, problems = self._with_captions([], split), []
            source = self.captions_path
        else:
            clips, _, problems = self._read(split, self._classes())
            clips = self._with_captions(clips, split)
        if self.on_bad_item == "check":
            clips, bad = check_clips(clips, self.size)
            problems = problems + bad
        report_bad_items(source, problems, self.on_bad_item)
        if not clips:
            raise AvseqError(f"{source}: no usable videos (check it with 'avseq check-data')")
        return clips

    def _clip_seconds(self, clips: list[Clip]) -> float:
        """Median duration of (a sample of) the training clips: the classify window length."""
        durations = []
        for clip in clips[:: max(1, len(clips) // 32)][:32]:
            try:
                info = video_info(clip.path)
            except AvseqError:
                continue
            if info.duration > 0:
                durations.append(info.duration)
        return float(statistics.median(durations)) if durations else 2.0

    def task_inputs(self) -> dict[str, Any]:
        """What the task needs from the data: class names and how clips are sampled."""
        classes = self._classes()
        self._ensure_vocab()
        if self.clip_seconds is None:
            if self._builtin_train():
                self.clip_seconds = BUILTIN_CLIP_SECONDS
            elif self.sources["train"] is not None:
                self.clip_seconds = self._clip_seconds(self._read("train", classes)[0])
            else:
                self.clip_seconds = self._clip_seconds(self._with_captions([], "train"))
        test = self.sources.get("test")
        captions = self.captions_path
        return {
            "classes": classes,
            "vocab": self.vocab.itos[4:] if self.vocab is not None else None,
            "clip": {
                "size": self.size,
                "num_frames": self.num_frames,
                "seconds": self.clip_seconds,
                "test_annotations": str(test.resolve()) if test else None,
                "captions": str(captions.resolve()) if captions else None,
                "video_root": str(Path(self.video_root).resolve()) if self.video_root else None,
            },
        }

    def setup(self, stage: str | None = None) -> None:
        self._ensure_vocab()
        splits = {"fit": ["train", "val"], "validate": ["val"], "test": ["test"]}.get(
            stage or "fit", ["train", "val"]
        )
        for split in splits:
            if split not in self.datasets:
                self.datasets[split] = VideoClipDataset(
                    self.load_split(split),
                    self.size,
                    self.num_frames,
                    train=split == "train",
                    backend=self.decoder,
                    vocab=self.vocab,
                    max_words=self.max_caption_words,
                    augment=self.augment if split == "train" else None,
                )

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        dataset = self.datasets[split]
        return batch_loader(
            dataset,
            [1.0] * len(dataset),  # clips are sampled to the same number of frames
            batch_size,
            shuffle,
            self.seed,
            self.trainer,
            collate_video,
            self.num_workers,
        )
