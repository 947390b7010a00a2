"""What keeps the public server standing, without a model: upload size, formats checked by
decoding, media length and frame size from the container, the worker queue (503), the request
timeout (504), client paths never opened, and every error as one line of JSON."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from avseq.errors import AvseqError
from avseq.media.video import write_mp4
from avseq.serve import results
from avseq.serve.app import create_app
from avseq.serve.limits import ServerLimits
from avseq.serve.probe import check_video, prepare_audio

from .conftest import wait_until_idle
from .helpers import multipart, stub_predictors, tone_wav, write_webm_opus

OPENED: list[str] | None = None  # paths opened while a test records them


def _audit(event: str, args: tuple) -> None:
    if event == "open" and OPENED is not None and isinstance(args[0], (str, bytes, Path)):
        OPENED.append(str(args[0]))


sys.addaudithook(_audit)


@pytest.fixture
def serve(tmp_path: Path, monkeypatch):
    """Builds clients of stub-model apps; a stub run checks the upload like the real one would
    and records where it was stored. Afterwards every request folder must be gone."""
    apps, seen = [], []

    def fake_transcribe(predictors, path, limits, srt):
        seen.append(path)
        _, duration = prepare_audio(path, 16000, limits)
        return {
            "text": "hello",
            "duration": duration,
            "words": [],
            "attention": None,
            "spectrogram": {"rows": 1, "cols": 1, "data": "AA==", "seconds_per_column": 0.01},
        }

    def fake_classify(predictors, path, limits):
        info = check_video(path, limits, reads_all_frames=False)
        return {
            "duration": info.duration,
            "labels": [{"label": "a", "score": 1.0}],
            "clip_seconds": 2.0,
        }

    monkeypatch.setitem(results.TASK_RUNS, "transcribe", fake_transcribe)
    monkeypatch.setitem(results.TASK_RUNS, "classify", fake_classify)

    def make(**limits) -> TestClient:
        app = create_app(stub_predictors(video=True), ServerLimits(**limits), tmp_path / "tmp")
        apps.append(app)
        client = TestClient(app, raise_server_exceptions=False)
        client.seen = seen
        return client

    yield make
    for app in apps:
        wait_until_idle(app)
        assert list(app.state.temp_root.iterdir()) == []


def post(client: TestClient, data: bytes, name: str = "speech.wav", endpoint="transcribe"):
    return client.post(f"/api/{endpoint}", files={"file": (name, data)})


def test_health_page_and_docs(serve) -> None:
    client = serve(max_upload_bytes=5_000_000)
    health = client.get("/api/health").json()
    assert health["tasks"] == {"transcribe": True, "classify": True, "caption": False}
    assert "without a model for it (--video-checkpoint)" in health["missing"]["caption"]
    assert health["limits"]["max_upload_bytes"] == 5_000_000 and health["capacity"] == 9
    page = client.get("/")
    assert page.status_code == 200 and 'id="transcript"' in page.text
    assert "script-src" not in page.headers["content-security-policy"]  # 'self' by default-src
    assert page.headers["x-content-type-options"] == "nosniff"
    schema = client.get("/openapi.json").json()
    assert {"/api/transcribe", "/api/classify", "/api/caption", "/api/health"} <= set(
        schema["paths"]
    )
    body = schema["paths"]["/api/transcribe"]["post"]["requestBody"]["content"]
    assert "file" in body["multipart/form-data"]["schema"]["properties"]


def test_page_downloads_nothing_and_writes_no_markup() -> None:
    static = Path(results.__file__).parent / "static"
    for path in static.iterdir():
        text = path.read_text()
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, path
        assert "innerHTML" not in text and "insertAdjacentHTML" not in text, path


def test_errors_are_one_line_json(serve) -> None:
    client = serve()
    cases = [
        (client.get("/nope"), 404, "no such page"),
        (client.get("/api/transcribe"), 405, "Method Not Allowed"),
        (post(client, tone_wav(), endpoint="caption"), 404, "--video-checkpoint"),
        (client.post("/api/transcribe", content=b"raw bytes"), 400, "multipart/form-data"),
        (client.post("/api/transcribe", files={"audio": ("a.wav", tone_wav())}), 400, "'audio'"),
        (client.post("/api/transcribe", data={"srt": "true"}), 400, "multipart"),
        (post(client, b""), 400, "empty"),
        (client.post("/api/transcribe?srt=maybe", files={"file": tone_wav()}), 422, "srt"),
        (
            client.post("/api/transcribe", data={"srt": "maybe"}, files={"file": tone_wav()}),
            400,
            "true or false",
        ),
        (client.post("/api/transcribe", files=[("file", b"1"), ("file", b"2")]), 400, "one file"),
    ]
    for response, status, words in cases:
        body = response.json()
        assert response.status_code == status and list(body) == ["error"], body
        assert words in body["error"] and "\n" not in body["error"]


def test_not_audio_or_not_video_is_refused_by_decoding(serve) -> None:
    client = serve()
    rng = np.random.default_rng(0)
    for data in (rng.bytes(4000), b"RIFF....WAVEfmt hello, not audio", b"just text\n" * 50):
        response = post(client, data, "speech.wav")  # the name says wav: it is not believed
        assert response.status_code == 415 and "not an audio file" in response.json()["error"]
    response = post(client, tone_wav(), "clip.mp4", "classify")
    assert response.status_code == 415 and "not a video" in response.json()["error"]


def test_too_large_by_content_length_and_by_counting(serve) -> None:
    client = serve(max_upload_bytes=20_000)
    response = post(client, tone_wav(2.0))
    assert response.status_code == 413 and "at most 0.02 MB" in response.json()["error"]
    assert client.seen == []
    body = multipart("file", "big.wav", tone_wav(2.0))

    def chunks():  # no Content-Length: the server must count what it reads
        for i in range(0, len(body), 4096):
            yield body[i : i + 4096]

    headers = {"content-type": "multipart/form-data; boundary=b0undary"}
    response = client.post("/api/transcribe", content=chunks(), headers=headers)
    assert response.status_code == 413 and "larger than allowed" in response.json()["error"]
    assert post(client, tone_wav(0.3)).status_code == 200


def test_media_length_and_frame_size_are_checked_before_decoding(serve, tmp_path) -> None:
    client = serve(max_media_seconds=1.5)
    response = post(client, tone_wav(2.0))
    assert response.status_code == 413 and "lasts 2.0 s" in response.json()["error"]
    t = np.linspace(0, 2.0, 32000, endpoint=False)
    rec = write_webm_opus(tmp_path / "rec.webm", 0.3 * np.sin(2 * np.pi * 300 * t), 16000)
    response = post(client, rec.read_bytes(), "rec.webm")  # no duration stated: counted
    assert response.status_code == 413 and "at most 1.5 s" in response.json()["error"]
    long = tmp_path / "long.mp4"
    write_mp4(long, np.zeros((24, 32, 32, 3), np.uint8), fps=8)
    response = post(client, long.read_bytes(), "long.mp4", "classify")
    assert response.status_code == 413 and "video lasts 3.0 s" in response.json()["error"]
    huge = tmp_path / "huge.mp4"  # 181 kB that would decode to 50 MB a frame
    write_mp4(huge, np.zeros((1, 4096, 4096, 3), np.uint8), fps=1, codec="mpeg4", crf=31)
    response = post(serve(), huge.read_bytes(), "huge.mp4", "classify")
    assert response.status_code == 413 and "4096x4096" in response.json()["error"]


def test_browser_recording_is_decoded(serve, tmp_path) -> None:
    t = np.linspace(0, 1.0, 16000, endpoint=False)
    rec = write_webm_opus(tmp_path / "rec.webm", 0.3 * np.sin(2 * np.pi * 300 * t), 16000)
    response = post(serve(), rec.read_bytes(), "recording.webm")
    assert response.status_code == 200
    assert response.json()["duration"] == pytest.approx(1.0, abs=0.03)


def test_client_paths_are_never_opened(serve, tmp_path) -> None:
    global OPENED
    client = serve()
    OPENED = []
    try:
        response = post(client, tone_wav(0.3), "../../escape.wav")
        field = client.post(
            "/api/transcribe",
            files={"file": ("a.wav", tone_wav(0.3))},
            data={"path": "/etc/passwd"},
        )
    finally:
        opened, OPENED = OPENED, None
    assert response.status_code == 200 and response.json()["file"] == "escape.wav"
    assert field.status_code == 400 and "unknown form field 'path'" in field.json()["error"]
    [stored] = client.seen
    root = client.app.state.temp_root
    assert stored.name == "upload" and stored.parent.parent == root
    assert not any("escape" in p or "passwd" in p for p in opened), opened
    assert not list(tmp_path.rglob("escape*"))


def test_markup_in_a_file_name_comes_back_inert(serve, monkeypatch) -> None:
    client = serve()
    name = '<img src=x onerror="alert(1)">.wav'
    response = post(client, tone_wav(0.3), name)
    shown = response.json()["file"]
    assert response.status_code == 200 and not set("<>\"'/") & set(shown)
    assert shown.startswith("_img src") and shown.endswith(".wav")

    def broken(predictors, path, limits, srt):
        raise AvseqError(f"{path}: the waveform is silent (peak < 0.0001)")

    monkeypatch.setitem(results.TASK_RUNS, "transcribe", broken)
    response = post(client, tone_wav(0.3), name)
    assert response.status_code == 422
    assert response.json()["error"] == f"{shown}: the waveform is silent (peak < 0.0001)"


def test_an_unexpected_failure_shows_no_traceback(serve, monkeypatch) -> None:
    def crash(predictors, path, limits, srt):
        raise RuntimeError("secret internals at /srv/models")

    monkeypatch.setitem(results.TASK_RUNS, "transcribe", crash)
    response = post(serve(), tone_wav(0.3))
    assert response.status_code == 500
    assert "internal error" in response.json()["error"]
    assert "secret" not in response.text and "Traceback" not in response.text


def blocking_run(monkeypatch) -> tuple[threading.Event, threading.Event]:
    """Makes transcription wait for `release`; `started` is set once a worker is inside it."""
    started, release = threading.Event(), threading.Event()

    def slow(predictors, path, limits, srt):
        started.set()
        assert release.wait(10)
        return {
            "text": "",
            "duration": 0.3,
            "words": [],
            "attention": None,
            "spectrogram": {"rows": 1, "cols": 1, "data": "AA==", "seconds_per_column": 0.01},
        }

    monkeypatch.setitem(results.TASK_RUNS, "transcribe", slow)
    return started, release


def test_a_full_queue_answers_503_at_once(serve, monkeypatch) -> None:
    started, release = blocking_run(monkeypatch)
    with serve(workers=1, queue=1) as client:
        answers = {}

        def send(key: str) -> None:
            answers[key] = post(client, tone_wav(0.3))

        first = threading.Thread(target=send, args=("running",))
        first.start()
        assert started.wait(10)
        second = threading.Thread(target=send, args=("waiting",))
        second.start()
        while client.app.state.pool.in_progress() < 2:
            time.sleep(0.01)
        refused = post(client, tone_wav(0.3))
        assert refused.status_code == 503 and "busy" in refused.json()["error"]
        release.set()
        first.join(10)
        second.join(10)
        assert answers["running"].status_code == answers["waiting"].status_code == 200


def test_a_timeout_answers_504_and_holds_the_worker_until_the_work_ends(serve, monkeypatch) -> None:
    started, release = blocking_run(monkeypatch)
    with serve(workers=1, queue=0, request_timeout=0.5) as client:
        response = post(client, tone_wav(0.3))
        assert response.status_code == 504 and "0.5 s" in response.json()["error"]
        assert started.is_set()
        # PyTorch cannot be interrupted: the worker is still busy, so a new request is refused
        assert post(client, tone_wav(0.3)).status_code == 503
        assert len(list(client.app.state.temp_root.iterdir())) == 1  # kept while in use
        release.set()
        wait_until_idle(client.app)
        assert post(client, tone_wav(0.3)).status_code == 200
