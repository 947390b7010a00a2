"""What keeps a public server standing: the limits, the one error type every refusal raises,
and the bounded pool the model work runs in."""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

from avseq.errors import AvseqError

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class ServerLimits:
    """Bounds on what one request may cost.

    Args:
        max_upload_bytes: largest request body accepted (413 beyond).
        max_media_seconds: longest audio or video accepted, read from the container before
            decoding (413 beyond).
        request_timeout: seconds from arrival (waiting for a worker included) after which a
            request is answered 504.
        workers: requests the models work on at once (one model copy and thread each).
        queue: requests waiting for a worker; more are answered 503.
        max_frame_pixels: largest video frame (width x height) accepted (413 beyond).
        max_video_fps: highest frame rate accepted, so frames = seconds x fps stays bounded.
    """

    max_upload_bytes: int = 20_000_000
    max_media_seconds: float = 600.0
    request_timeout: float = 120.0
    workers: int = 1
    queue: int = 8
    max_frame_pixels: int = 3840 * 2160
    max_video_fps: float = 240.0

    def __post_init__(self) -> None:
        if self.max_upload_bytes < 1 or self.max_frame_pixels < 1:
            raise AvseqError(
                f"server limits: the upload ({self.max_upload_bytes} bytes) and frame size "
                f"({self.max_frame_pixels} pixels) limits must be positive"
            )
        if not (self.max_media_seconds > 0 and self.request_timeout > 0 and self.max_video_fps > 0):
            raise AvseqError(
                "server limits: --max-media-seconds, --request-timeout and the frame-rate "
                "limit must be positive numbers"
            )
        if self.workers < 1 or self.queue < 0:
            raise AvseqError(
                f"--workers {self.workers} / --queue {self.queue}: need at least one worker "
                "and a queue of zero or more"
            )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ApiError(Exception):
    """A request the server refuses: answered as `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class WorkerPool(Generic[T]):
    """Runs model work on `workers` threads, each with its own replica (model copies are not
    shared between threads: beam searches keep per-search state), with at most `queue` more
    requests waiting; beyond that a request is refused at once with 503.

    A timed-out request is answered 504 right away, but PyTorch cannot be interrupted: work that
    has started runs to its end, and its slot and its `cleanup` are released only then, so the
    pool never holds more than `workers + queue` jobs whatever clients do.
    """

    def __init__(self, replicas: Sequence[T], limits: ServerLimits) -> None:
        if not replicas:
            raise ValueError("the worker pool needs at least one replica")
        self.workers = min(limits.workers, len(replicas))
        self.capacity = self.workers + limits.queue
        self.replicas: queue.SimpleQueue[T] = queue.SimpleQueue()
        for replica in replicas[: self.workers]:
            self.replicas.put(replica)
        self.executor = ThreadPoolExecutor(self.workers, thread_name_prefix="avseq-model")
        self.lock = threading.Lock()
        self.jobs = 0  # admitted and not yet finished (waiting or running)

    def admit(self) -> None:
        """Takes a slot, or raises 503 when `workers + queue` jobs are already admitted."""
        with self.lock:
            if self.jobs >= self.capacity:
                raise ApiError(
                    503,
                    f"the server is busy ({self.jobs} requests in progress or waiting); "
                    "try again in a moment",
                )
            self.jobs += 1

    def release(self) -> None:
        with self.lock:
            self.jobs -= 1

    async def run(
        self, work: Callable[[T], Any], timeout: float, cleanup: Callable[[], None]
    ) -> Any:
        """`work(replica)` on a worker thread, for a job `admit`ted before; `cleanup` runs once
        the job is really over (finished, failed or never started).

        Raises:
            TimeoutError: after `timeout` seconds.
        """

        def job() -> Any:
            replica = self.replicas.get()
            try:
                return work(replica)
            finally:
                self.replicas.put(replica)

        try:
            future = self.executor.submit(job)
        except RuntimeError:  # the executor is shutting down
            self.release()
            cleanup()
            raise ApiError(503, "the server is shutting down; try again later") from None

        def done(_) -> None:
            self.release()
            cleanup()

        future.add_done_callback(done)
        # on timeout, cancelling the wrapper cancels a job still waiting; a running one carries on
        return await asyncio.wait_for(asyncio.wrap_future(future), max(timeout, 0.001))

    def in_progress(self) -> int:
        with self.lock:
            return self.jobs

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
