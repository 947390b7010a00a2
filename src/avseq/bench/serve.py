"""Load check of `avseq serve`: the real server in its own process on loopback, N concurrent
clients sending a fixed number of mixed transcribe / classify requests.

    python -m avseq.bench.serve [--speech-checkpoint CKPT] [--video-checkpoint CKPT]
        [--clients 8] [--requests 500] [--workers 1] [--queue N] [--device cpu]

Files: the first test utterances and clips of the built-in corpora under data/ (generated ones
when there are none). Prints requests/s, audio seconds/s, p50/p95 latency per endpoint, errors
(503s from a full queue counted apart: the queue defaults to the client count, so there are
none), and the server's resident memory (VmRSS) at start, after a warm-up and at the end: flat
from warm-up to end means no growth per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np
import soundfile as sf

from avseq.media.video import video_info, write_mp4

SPEECH = Path("runs/speech/latest/checkpoints/best.ckpt")
VIDEO = Path("runs/video/latest/checkpoints/best.ckpt")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pick_files(folder: Path, count: int) -> tuple[list[tuple[Path, float]], list[Path]]:
    """(audio file, seconds) and video files: the built-in test splits' first items, or
    generated stand-ins (a tone, a moving square) in `folder` when data/ has none."""
    audio = sorted(Path("data").glob("speech_synth/*/wav/test-*.wav"))[:count]
    videos = sorted(Path("data").glob("video_synth/*/clips/test/*.mp4"))[:count]
    if not audio:
        t = np.arange(32000) / 16000
        sf.write(folder / "tone.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 16000)
        audio = [folder / "tone.wav"]
    if not videos:
        frames = np.zeros((48, 96, 96, 3), np.uint8)
        for i, frame in enumerate(frames):
            frame[30:60, i : i + 30] = 255
        write_mp4(folder / "square.mp4", frames, fps=24)
        videos = [folder / "square.mp4"]
    return [(p, sf.info(str(p)).duration) for p in audio], videos


def start_server(args: argparse.Namespace, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "avseq.cli.main", "serve", "--port", str(port)]
    command += ["--workers", str(args.workers), "--queue", str(args.queue)]
    command += ["--device", args.device]
    if args.speech_checkpoint:
        command += ["--speech-checkpoint", args.speech_checkpoint]
    if args.video_checkpoint:
        command += ["--video-checkpoint", args.video_checkpoint]
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)


def wait_ready(url: str, server: subprocess.Popen, log: Path, seconds: float = 120) -> dict:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if server.poll() is not None:
            tail = log.read_text().strip().splitlines()[-1:] or ["(no output)"]
            raise SystemExit(f"the server exited with status {server.returncode}: {tail[0]}")
        try:
            return httpx.get(f"{url}/api/health", timeout=2).json()
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not answer within {seconds:.0f} s; see {log}")


async def load(url: str, jobs: list[tuple[str, Path]], clients: int) -> list[tuple]:
    """Sends `jobs` (endpoint, file) from `clients` concurrent clients; (endpoint, file,
    status, seconds) per request."""
    out: list[tuple] = []
    queue: asyncio.Queue = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, timeout=300) as http:
            while not queue.empty():
                endpoint, path = queue.get_nowait()
                start = time.perf_counter()
                response = await http.post(
                    f"/api/{endpoint}", files={"file": (path.name, path.read_bytes())}
                )
                out.append((endpoint, path, response.status_code, time.perf_counter() - start))

    await asyncio.gather(*(client() for _ in range(clients)))
    return out


def describe(models: dict) -> dict:
    speech, video = models["speech"], models["video"]
    return {
        "speech": speech and f"{speech['checkpoint']}, {speech['decoder']} decoding",
        "video": video and f"{video['checkpoint']}, {len(video['classes'])} classes",
    }


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speech-checkpoint", default=str(SPEECH) if SPEECH.is_file() else None)
    parser.add_argument("--video-checkpoint", default=str(VIDEO) if VIDEO.is_file() else None)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--queue", type=int, default=None, help="default: --clients")
    parser.add_argument("--files", type=int, default=4, help="distinct files per kind")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    if not (args.speech_checkpoint or args.video_checkpoint):
        raise SystemExit(
            f"no checkpoints: neither {SPEECH} nor {VIDEO} exists; train them (make train-speech, "
            "make train-video) or give --speech-checkpoint / --video-checkpoint"
        )
    args.queue = args.clients if args.queue is None else args.queue
    folder = Path(tempfile.mkdtemp(prefix="avseq-bench-serve-"))
    audio, videos = pick_files(folder, args.files)
    seconds = {p: s for p, s in audio} | {p: video_info(p).duration for p in videos}
    kinds = [("transcribe", [p for p, _ in audio])] if args.speech_checkpoint else []
    kinds += [("classify", videos)] if args.video_checkpoint else []
    jobs = [
        (kinds[i % len(kinds)][0], kinds[i % len(kinds)][1][i // len(kinds) % args.files])
        for i in range(args.warmup + args.requests)
    ]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url, log = f"http://127.0.0.1:{port}", folder / "server.log"
    server = start_server(args, port, log)
    try:
        health = wait_ready(url, server, log)
        rss_start = rss_mb(server.pid)
        asyncio.run(load(url, jobs[: args.warmup], args.clients))
        rss_warm = rss_mb(server.pid)
        start = time.perf_counter()
        done = asyncio.run(load(url, jobs[args.warmup :], args.clients))
        wall = time.perf_counter() - start
        rss_end = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)
    statuses = Counter(status for _, _, status, _ in done)
    ok = [(e, p, s) for e, p, status, s in done if status == 200]
    audio_s = sum(seconds[p] for e, p, _ in ok if e == "transcribe")
    video_s = sum(seconds[p] for e, p, _ in ok if e == "classify")
    result = {
        "machine": f"{os.cpu_count()} CPUs, device {args.device}",
        "models": describe(health["models"]),
        "clients": args.clients,
        "workers": args.workers,
        "queue": args.queue,
        "requests": len(done),
        "wall_seconds": round(wall, 2),
        "requests_per_second": round(len(done) / wall, 2),
        "audio_seconds_per_second": round(audio_s / wall, 2),
        "video_seconds_per_second": round(video_s / wall, 2),
        "latency_ms": {
            endpoint: {
                "p50": round(1000 * statistics.median(v), 1),
                "p95": round(1000 * percentile(v, 95), 1),
            }
            for endpoint in dict(kinds)
            if (v := [s for e, _, s in ok if e == endpoint])
        },
        "busy_503": statuses.pop(503, 0),
        "errors": {str(k): n for k, n in statuses.items() if k != 200},
        "server_rss_mb": {
            "start": round(rss_start, 1),
            "after_warmup": round(rss_warm, 1),
            "end": round(rss_end, 1),
        },
    }
    print(json.dumps(result, indent=1))
    shutil.rmtree(folder, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
