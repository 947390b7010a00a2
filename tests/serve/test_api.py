"""Every endpoint with tiny trained models through FastAPI's test client: what a user of the
API gets back for real audio and video, and for files the models cannot take."""

from __future__ import annotations

import base64
import itertools
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from avseq.inference.speech import DecodeOptions
from avseq.serve.app import create_app
from avseq.serve.limits import ServerLimits
from avseq.serve.predictors import Predictors, load_predictors, load_transcriber

from .conftest import wait_until_idle
from .helpers import write_webm_opus

pytestmark = pytest.mark.slow  # the fixtures train tiny models


@pytest.fixture
def client(predictors: Predictors, tmp_path: Path):
    app = create_app(predictors, ServerLimits(), tmp_path / "tmp")
    with TestClient(app) as client:
        yield client
    wait_until_idle(app)
    assert list(app.state.temp_root.iterdir()) == []


def upload(client: TestClient, endpoint: str, path: Path, name: str | None = None, **params):
    with open(path, "rb") as f:
        return client.post(
            f"/api/{endpoint}", params=params, files={"file": (name or path.name, f)}
        )


def pixels(heatmap: dict) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(heatmap["data"]), np.uint8)
    return data.reshape(heatmap["rows"], heatmap["cols"])


def test_health_describes_the_loaded_models(client: TestClient, predictors) -> None:
    health = client.get("/api/health").json()
    assert health["tasks"] == {"transcribe": True, "classify": True, "caption": True}
    assert health["models"]["speech"]["timestamps"] is True
    assert health["models"]["speech"]["attention"] is False  # greedy CTC decoding
    assert health["models"]["speech"]["sample_rate"] == 16000
    assert health["models"]["video"]["classes"] == predictors.classifier.classes
    assert health["models"]["video"]["captions"] is True
    assert "/" not in health["models"]["video"]["checkpoint"]  # no server paths


def test_transcribe_gives_text_word_times_subtitles_and_spectrogram(
    client: TestClient, speech_wav: Path
) -> None:
    response = upload(client, "transcribe", speech_wav, srt="true")
    assert response.status_code == 200, response.text
    result = response.json()
    duration = sf.info(str(speech_wav)).duration
    assert result["file"] == speech_wav.name
    assert result["duration"] == pytest.approx(duration, abs=1e-3)
    assert isinstance(result["text"], str) and result["attention"] is None  # greedy CTC
    words = result["words"]
    assert [w["word"] for w in words] == result["text"].split()
    for w in words:
        assert 0 <= w["start"] <= w["end"] <= duration + 0.05 and 0 <= w["confidence"] <= 1
    assert result["srt"].startswith("1\n00:00:") if words else result["srt"] == ""
    spec = result["spectrogram"]
    image = pixels(spec)
    assert spec["rows"] == 40  # the tiny model's mel bands
    assert spec["cols"] * spec["seconds_per_column"] == pytest.approx(duration, abs=0.05)
    assert image.max() == 255 and image.min() == 0  # scaled to the full range
    assert upload(client, "transcribe", speech_wav).json()["srt"] is None  # only when asked


def test_an_attention_decoder_returns_its_alignment(
    speech_checkpoint: str, speech_wav: Path, tmp_path: Path
) -> None:
    transcriber = load_transcriber(speech_checkpoint, DecodeOptions("attention", beam=2), "cpu")
    client = TestClient(create_app(Predictors(transcriber=transcriber), ServerLimits(), tmp_path))
    assert client.get("/api/health").json()["models"]["speech"]["attention"] is True
    result = upload(client, "transcribe", speech_wav).json()
    att = result["attention"]
    assert att["units"][-1] == "<eos>" and len(att["units"]) == att["rows"]
    assert att["rows"] == len(transcriber.tokenizer.encode(result["text"])) + 1
    duration = result["duration"]
    assert att["cols"] * att["seconds_per_column"] == pytest.approx(duration, abs=0.2)
    assert pixels(att).sum(1).min() > 200  # each row's weights sum to about 1 (x 255)


def test_a_browser_recording_is_transcribed(
    client: TestClient, speech_wav: Path, tmp_path: Path
) -> None:
    wave, rate = sf.read(str(speech_wav))
    rec = write_webm_opus(tmp_path / "recording.webm", wave, rate)
    result = upload(client, "transcribe", rec).json()
    assert result["duration"] == pytest.approx(len(wave) / rate, abs=0.03)
    assert [w["word"] for w in result["words"]] == result["text"].split()


def test_classify_a_clip_and_a_long_video_window_by_window(
    client: TestClient, predictors, video_mp4: Path, long_mp4: Path
) -> None:
    result = upload(client, "classify", video_mp4).json()
    scores = [x["score"] for x in result["labels"]]
    assert len(scores) == 5 and scores == sorted(scores, reverse=True)
    assert {x["label"] for x in result["labels"]} <= set(predictors.classifier.classes)
    assert result["windows"] is None and "video" not in result  # no server path
    result = upload(client, "classify", long_mp4).json()
    windows = result["windows"]
    assert result["duration"] == pytest.approx(8.0, abs=0.2) and len(windows) >= 3
    assert windows[0]["start"] == 0 and 7.5 <= windows[-1]["end"] <= 8.0
    assert all(w["start"] < w["end"] for w in windows)
    assert all(b["start"] > a["start"] for a, b in itertools.pairwise(windows))


def test_caption_with_its_frames_by_words_attention(client: TestClient, video_mp4: Path) -> None:
    result = upload(client, "caption", video_mp4).json()
    att = result["attention"]
    assert att["words"] == result["caption"].split()
    assert len(att["weights"]) == len(att["words"]) + 1  # and end of sentence
    assert all(len(row) == len(att["frame_times"]) for row in att["weights"])
    assert all(abs(sum(row) - 1) < 0.01 for row in att["weights"])
    times = att["frame_times"]
    assert times == sorted(times) and times[0] >= 0 and times[-1] <= result["duration"]


def test_files_the_models_cannot_take(
    client: TestClient, speech_wav: Path, video_mp4: Path
) -> None:
    cases = [
        (upload(client, "classify", speech_wav, "audio.mp4"), 415, "not a video"),
        (upload(client, "caption", speech_wav), 415, "not a video"),
        (upload(client, "transcribe", video_mp4), 415, "no sound track"),
    ]
    silent = speech_wav.parent / "silent.wav"
    sf.write(str(silent), np.zeros(8000), 16000)
    quiet = "quiet.wav: the waveform is silent (peak < 0.0001)"  # no advice about manifests
    cases.append((upload(client, "transcribe", silent, "quiet.wav"), 422, quiet))
    for response, status, words in cases:
        assert response.status_code == status, response.text
        assert words in response.json()["error"]
        assert "/tmp" not in response.json()["error"] and "manifest" not in response.text


def test_a_video_checkpoint_without_a_caption_decoder(
    action_checkpoint: str, video_mp4: Path, tmp_path: Path
) -> None:
    actions_only = load_predictors(None, action_checkpoint, device="cpu")
    client = TestClient(create_app(actions_only, ServerLimits(), tmp_path))
    health = client.get("/api/health").json()
    assert health["tasks"] == {"transcribe": False, "classify": True, "caption": False}
    response = upload(client, "caption", video_mp4)
    assert response.status_code == 404
    assert response.json() == {"error": health["missing"]["caption"]}
    assert "no caption decoder" in response.json()["error"]
    assert upload(client, "classify", video_mp4).status_code == 200
