"""Coming back after a crash, as users do it: `avseq train` killed with SIGKILL partway through
an epoch, then `avseq train ... ckpt_path=last`, must end with exactly the weights of a run
that was never interrupted (augmentation, SpecAugment and dropout on, a data worker process),
in the killed run's own folder, with its metrics.csv continued; and last.ckpt is the last
step, not the last improvement of the monitored metric."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lightning.pytorch.callbacks import Callback

from avseq.config import load_config
from avseq.data.sampler import BucketBatchSampler, ResumableLoader, item_seed
from avseq.errors import AvseqError
from avseq.runs import FINISHED, RUN_DIR_ENV, plan_run

from ..conftest import REPO
from .test_speech import TINY_LM, corpus_overrides, tiny_overrides
from .test_video import overrides as video_overrides
from .test_video import video_corpus  # noqa: F401 (a fixture)

# 2 epochs of 3 batches; last.ckpt every 2 steps and at epoch ends: steps 2, 3, 4, 6
RESUMABLE = [
    "trainer.max_epochs=2",
    "data.num_workers=1",
    "data.augment.noise_prob=0.5",
    "data.augment.speed_prob=0.5",
    "callbacks.last_checkpoint.every_n_train_steps=2",
    "callbacks.progress_bar=null",
    "test=false",
]


class KillAtStep(Callback):
    """Kills its own process with SIGKILL before optimizer step `step + 1`: a crash in which
    nothing gets to save or clean up."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


def kill_at(step: int) -> list[str]:
    return [f"+callbacks.crash._target_={__name__}.KillAtStep", f"+callbacks.crash.step={step}"]


def avseq_train(overrides: list[str], log: Path) -> tuple[subprocess.Popen, Path]:
    """Starts `avseq train` in a process of its own with one thread (as the runs it is compared
    with), its output going to `log`."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}
    env.pop("LOCAL_RANK", None)
    cmd = [sys.executable, "-m", "avseq.cli.main", "train", *overrides]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    return proc, log


def finish(started: tuple[subprocess.Popen, Path], returncode: int) -> str:
    """Waits for a run, checks its exit status, and returns its output."""
    proc, log = started
    proc.wait(timeout=300)
    output = log.read_text()
    assert proc.returncode == returncode, output[-3000:]
    return output


def load(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def metrics(run_dir: Path) -> list[dict[str, str]]:
    with open(run_dir / "csv" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
def test_killed_run_resumes_bit_exact_in_its_own_folder(tiny_corpus, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    args = tiny_overrides(tiny_corpus, runs, *RESUMABLE)
    # the run never interrupted, in a folder of its own, alongside
    whole = avseq_train(
        tiny_overrides(tiny_corpus, tmp_path / "whole", *RESUMABLE), tmp_path / "whole.log"
    )

    # killed right after the checkpoint at the end of epoch 0 (step 3) ...
    finish(avseq_train([*args, *kill_at(3)], tmp_path / "1.log"), -signal.SIGKILL)
    [run_dir] = [d for d in (runs / "speech").iterdir() if d.name != "latest"]
    assert (runs / "speech" / "latest").resolve() == run_dir.resolve()  # linked at the start
    assert not (run_dir / FINISHED).exists()
    assert load(run_dir / "checkpoints" / "last.ckpt")["global_step"] == 3

    # ... continued, and killed again a step after the checkpoint 1 batch into epoch 1
    err = finish(
        avseq_train([*args, "ckpt_path=last", *kill_at(5)], tmp_path / "2.log"), -signal.SIGKILL
    )
    assert f"continuing the unfinished run {run_dir} from step 3" in err
    last = load(run_dir / "checkpoints" / "last.ckpt")
    assert (last["global_step"], last["epoch"]) == (4, 1)
    assert last["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [
        {"epoch": 1, "batches": 1}
    ]

    err = finish(avseq_train([*args, "ckpt_path=last"], tmp_path / "3.log"), 0)
    assert f"continuing the unfinished run {run_dir} from step 4" in err
    assert (run_dir / FINISHED).is_file()
    assert sorted(d.name for d in (runs / "speech").iterdir()) == sorted(["latest", run_dir.name])

    finish(whole, 0)
    [whole_dir] = [d for d in (tmp_path / "whole" / "speech").iterdir() if d.name != "latest"]
    expected = load(whole_dir / "checkpoints" / "last.ckpt")
    got = load(run_dir / "checkpoints" / "last.ckpt")
    assert got["global_step"] == expected["global_step"] == 6
    assert weight_diff(got, expected) == 0
    # the same metrics.csv: the killed parts' rows kept, the steps redone logged once
    assert metrics(run_dir) == metrics(whole_dir)
    assert [int(r["step"]) for r in metrics(whole_dir) if r["train/loss"]] == list(range(6))

    # the validation metric did not improve in epoch 1 (a 32-unit model after 6 steps writes
    # no word right): best.ckpt stays at epoch 0, last.ckpt is still the last step
    best = load(whole_dir / "checkpoints" / "best.ckpt")
    assert best["global_step"] == 3 and expected["epoch"] == 1


def weight_diff(a: dict, b: dict) -> float:
    assert a["state_dict"].keys() == b["state_dict"].keys()
    return max((a["state_dict"][k] - v).abs().max().item() for k, v in b["state_dict"].items())


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["video", "speech_lm"])
def test_video_and_language_model_runs_resume_bit_exact_mid_epoch(
    experiment: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The same guarantee for the other recipes: a clip's frame jitter and the caption drawn
    for it, and the sentence batches, follow the run, not the process."""
    resumable = [
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=3",
        "callbacks.last_checkpoint.every_n_train_steps=2",
        "callbacks.progress_bar=null",
        "test=false",
    ]
    if experiment == "video":
        base = video_overrides(request.getfixturevalue("video_corpus"), Path("unused"))
        args = [o for o in base if not o.startswith("paths.runs_dir=")] + ["data.num_workers=1"]
    else:
        spec = request.getfixturevalue("tiny_corpus")
        args = ["experiment=speech_lm", *corpus_overrides(spec), *TINY_LM, "data.batch_size=4"]
        args += ["logger.tensorboard=null", "trainer.log_every_n_steps=1"]
    args += resumable
    runs = tmp_path / "runs"
    whole = avseq_train([*args, f"paths.runs_dir={tmp_path / 'whole'}"], tmp_path / "whole.log")
    killed = [*args, f"paths.runs_dir={runs}"]
    # killed a step after the checkpoint 1 batch into epoch 1, then continued
    finish(avseq_train([*killed, *kill_at(5)], tmp_path / "1.log"), -signal.SIGKILL)
    [run_dir] = [d for d in (runs / experiment).iterdir() if d.name != "latest"]
    last = load(run_dir / "checkpoints" / "last.ckpt")
    assert last["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [
        {"epoch": 1, "batches": 1}
    ]
    err = finish(avseq_train([*killed, "ckpt_path=last"], tmp_path / "2.log"), 0)
    assert f"continuing the unfinished run {run_dir} from step 4" in err

    finish(whole, 0)
    [whole_dir] = [d for d in (tmp_path / "whole" / experiment).iterdir() if d.name != "latest"]
    expected = load(whole_dir / "checkpoints" / "last.ckpt")
    got = load(run_dir / "checkpoints" / "last.ckpt")
    assert got["global_step"] == expected["global_step"] == 6
    assert weight_diff(got, expected) == 0
    assert metrics(run_dir) == metrics(whole_dir)


def fake_run(task_dir: Path, name: str, mtime: float, finished: bool) -> Path:
    run = task_dir / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    os.utime(run / "checkpoints" / "last.ckpt", (mtime, mtime))
    if finished:
        (run / FINISHED).write_text("{}\n")
    return run


def test_last_picks_the_newest_unfinished_run(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(RUN_DIR_ENV, raising=False)  # plan_run sets it for DDP children
    task_dir = tmp_path / "runs" / "speech"
    cfg = load_config([f"paths.runs_dir={tmp_path / 'runs'}", "ckpt_path=last"])
    with pytest.raises(AvseqError, match=r"no unfinished run .* train once without ckpt_path"):
        plan_run(cfg)
    done = fake_run(task_dir, "a-finished-old", 1000, finished=True)
    with pytest.raises(AvseqError) as err:
        plan_run(cfg)
    assert f"resume it explicitly (in a new run folder): ckpt_path={done}/checkpoints" in str(
        err.value
    )
    crashed = fake_run(task_dir, "b-crashed", 2000, finished=False)
    fake_run(task_dir, "c-crashed-earlier", 1500, finished=False)
    fake_run(task_dir, "d-finished-newest", 3000, finished=True)
    plan = plan_run(cfg)
    assert plan.run_dir == crashed and plan.continues
    assert plan.ckpt_path == str(crashed / "checkpoints" / "last.ckpt")
    explicit = plan_run(
        load_config([f"paths.runs_dir={tmp_path / 'runs'}", f"ckpt_path={plan.ckpt_path}"])
    )
    assert explicit.run_dir.parent == task_dir and explicit.run_dir not in task_dir.iterdir()
    assert not explicit.continues


class Keys(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 40

    def __getitem__(self, key):
        return key


@pytest.mark.parametrize("workers", [0, 1])
def test_loader_resumes_after_the_batches_trained(workers: int) -> None:
    """The position Lightning saves is the batches handed to training, not those a worker
    prefetched; a loader given it goes on with the next batch of the same epoch, and starts
    the next epoch from its beginning."""

    def loader() -> ResumableLoader:
        sampler = BucketBatchSampler([i % 7 for i in range(40)], 4, seed=1, seeded=True)
        return ResumableLoader(Keys(), batch_sampler=sampler, collate_fn=list, num_workers=workers)

    first = loader()
    first.batch_sampler.set_epoch(2)
    whole = list(first)
    batches = iter(first)
    trained = [next(batches) for _ in range(3)]
    assert first.state_dict() == {"epoch": 2, "batches": 3}
    again = loader()
    again.load_state_dict(first.state_dict())
    again.batch_sampler.set_epoch(2)
    assert trained + list(again) == whole
    again.batch_sampler.set_epoch(3)
    assert len(list(again)) == len(whole) == 10
    # each item's augmentation seed depends on (seed, epoch, index) only
    assert sorted(whole[0]) == sorted((i, item_seed(1, 2, i)) for i, _ in whole[0])
