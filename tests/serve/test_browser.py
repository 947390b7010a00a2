"""The web page in a real headless browser (the system Chromium through Playwright) against a
real uvicorn server with tiny trained models: upload audio and click a word, record from a
(fake) microphone, drop a video, see an error; no console errors; a screenshot of each state
(in $AVSEQ_SCREENSHOTS, default runs/screenshots/)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from fastapi.testclient import TestClient

from avseq.serve.app import create_app
from avseq.serve.limits import ServerLimits

pytestmark = pytest.mark.slow  # the fixtures train tiny models

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]
REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 30_000  # ms for a result to appear


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def server(predictors, tmp_path_factory):
    """The app under uvicorn on a free loopback port, in a background thread."""
    app = create_app(predictors, ServerLimits(), tmp_path_factory.mktemp("uploads"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + 20
    while not server.started and time.monotonic() < end:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    assert list(app.state.temp_root.iterdir()) == []  # every upload removed


@pytest.fixture(scope="module")
def spoken_wav(predictors, tiny_corpus, tmp_path_factory) -> Path:
    """A test utterance in which the tiny model recognises at least one word."""
    client = TestClient(create_app(predictors, temp_root=tmp_path_factory.mktemp("probe")))
    for wav in sorted(Path(tiny_corpus.manifest("test")).parent.glob("wav/test-*.wav"))[:10]:
        with open(wav, "rb") as f:
            if client.post("/api/transcribe", files={"file": (wav.name, f)}).json()["words"]:
                return wav
    pytest.skip("the tiny model recognised no word in the first test utterances")


@pytest.fixture
def page(browser, server):
    """A fresh page on the server; fails the test on any console error or page exception
    (`page.allowed` lists the console messages a test expects)."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.grant_permissions(["microphone"], origin=server)
    page = context.new_page()
    errors: list[str] = []
    page.allowed = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.goto(server)
    page.wait_for_selector("body[data-ready=true]", timeout=TIMEOUT)
    yield page
    unexpected = [e for e in errors if not any(a in e for a in page.allowed)]
    context.close()
    assert unexpected == [], unexpected


def wait_until(page, expression: str, seconds: float = 10.0) -> None:
    """Polls a JavaScript expression from here: Playwright's own `wait_for_function` evaluates
    strings inside the page, which the page's Content-Security-Policy rightly forbids."""
    end = time.monotonic() + seconds
    while not page.evaluate(expression):
        assert time.monotonic() < end, f"still false after {seconds} s: {expression}"
        time.sleep(0.05)


def screenshot(page, name: str) -> None:
    folder = Path(os.environ.get("AVSEQ_SCREENSHOTS") or REPO / "runs" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")


def test_upload_audio_then_click_a_word_to_hear_it(page, spoken_wav: Path) -> None:
    page.set_input_files("#audio-file", str(spoken_wav))
    page.wait_for_selector("#transcript .word", timeout=TIMEOUT)
    assert page.text_content("#speech-name") == spoken_wav.name
    assert page.is_visible("#spectrogram") and page.is_visible("#srt-link")
    words = page.locator("#transcript .word")
    last = words.nth(words.count() - 1)
    start = float(last.get_attribute("data-start"))
    wait_until(page, "document.getElementById('audio').readyState >= 1")
    last.click()
    wait_until(page, f"Math.abs(document.getElementById('audio').currentTime - {start}) < 0.3")
    screenshot(page, "audio-result")


def test_record_from_the_microphone(page) -> None:
    page.click("#record")
    page.wait_for_selector("#record.recording")
    time.sleep(1.0)
    with page.expect_response("**/api/transcribe", timeout=TIMEOUT) as answer:
        page.click("#record")
    assert answer.value.status == 200, answer.value.text()
    page.wait_for_selector("#speech-result:not([hidden])", timeout=TIMEOUT)
    assert page.text_content("#speech-name").startswith("recording.")
    assert page.is_hidden("#speech-error")
    screenshot(page, "recording-result")


def test_drop_a_video_for_labels_timeline_caption_and_attention(page, long_mp4: Path) -> None:
    page.set_input_files("#video-file", str(long_mp4))
    page.wait_for_selector("#labels li", timeout=TIMEOUT)
    page.wait_for_selector("#caption-attention td", timeout=TIMEOUT)
    assert page.locator("#labels li").count() == 5
    assert page.locator("#timeline .segment").count() >= 3
    assert page.text_content("#caption").strip()
    words = len(page.text_content("#caption").split())
    assert page.locator("#caption-attention tbody tr").count() == words + 1
    page.wait_for_selector("#caption-attention .thumb canvas", timeout=TIMEOUT)  # it plays
    wait_until(page, "document.getElementById('player').readyState >= 2")
    assert page.is_hidden("#video-error")
    screenshot(page, "video-result")


def test_errors_show_as_one_line_and_file_names_stay_text(page, spoken_wav: Path) -> None:
    page.allowed = ["status of 415"]  # the browser logs the refused upload itself
    page.set_input_files(
        "#audio-file", files=[{"name": "notes.wav", "mimeType": "audio/wav", "buffer": b"hi"}]
    )
    page.wait_for_selector("#speech-error:not([hidden])", timeout=TIMEOUT)
    assert "not an audio file" in page.text_content("#speech-error")
    screenshot(page, "error-message")
    name = '<img src=x onerror="window.pwned=1">.wav'
    page.set_input_files(
        "#audio-file",
        files=[{"name": name, "mimeType": "audio/wav", "buffer": spoken_wav.read_bytes()}],
    )
    wait_until(page, f"document.getElementById('speech-name').textContent === {name!r}")
    assert page.evaluate("window.pwned") is None
    assert page.locator("#speech-result img").count() == 0
