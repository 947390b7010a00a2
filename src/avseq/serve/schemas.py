"""The JSON the API answers with, as pydantic models: they document it (OpenAPI, /docs) and
the server's answers are validated against them."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    error: str = Field(description="what was wrong, in one line")


class Word(BaseModel):
    word: str
    start: float = Field(description="seconds from the start of the audio")
    end: float
    confidence: float = Field(description="mean CTC posterior of its characters, 0-1")


class Heatmap(BaseModel):
    """A (rows, cols) uint8 image, row-major, base64-encoded; value / 255 is the weight."""

    rows: int
    cols: int
    data: str = Field(description="base64 of rows x cols bytes")
    seconds_per_column: float
    units: list[str] | None = Field(
        None, description="attention only: the output unit of each row (the last is <eos>)"
    )


class TranscribeResult(BaseModel):
    file: str = Field(description="the uploaded file's name, sanitised (display only)")
    text: str
    duration: float = Field(description="seconds of audio")
    words: list[Word] | None = Field(
        description="per-word times; null when the model has no CTC head or the transcript "
        "could not be aligned"
    )
    spectrogram: Heatmap = Field(description="log-mel spectrogram, low bands in row 0")
    attention: Heatmap | None = Field(
        description="the attention decoder's alignment (units x encoder frames), when the "
        "server decodes with one (--decoder attention or joint)"
    )
    srt: str | None = Field(None, description="SubRip subtitles, when asked for with srt=true")


class Label(BaseModel):
    label: str
    score: float


class Window(BaseModel):
    start: float
    end: float
    label: str
    score: float


class ClassifyResult(BaseModel):
    file: str
    duration: float
    labels: list[Label] = Field(description="the top labels, best first")
    windows: list[Window] | None = Field(
        None, description="a label per half-overlapping window, for videos longer than a clip"
    )
    clip_seconds: float = Field(description="the length of the clips the model was trained on")


class Alternative(BaseModel):
    caption: str
    score: float


class CaptionAttention(BaseModel):
    words: list[str]
    weights: list[list[float]] = Field(
        description="one row per word (and a last one for end of sentence) over the sampled frames"
    )
    frame_times: list[float] = Field(description="seconds of each sampled frame")


class CaptionResult(BaseModel):
    file: str
    caption: str
    score: float
    duration: float
    alternatives: list[Alternative] | None = None
    attention: CaptionAttention | None = None


class SpeechModel(BaseModel):
    checkpoint: str
    decoder: str
    sample_rate: int
    timestamps: bool
    attention: bool


class VideoModel(BaseModel):
    checkpoint: str
    classes: list[str]
    captions: bool
    clip_seconds: float
    frames_per_clip: int


class Models(BaseModel):
    speech: SpeechModel | None
    video: VideoModel | None


class Health(BaseModel):
    status: str
    tasks: dict[str, bool] = Field(description="which endpoints this server answers")
    missing: dict[str, str] = Field(description="why a task is not offered")
    models: Models
    limits: dict[str, int | float]
    busy: int = Field(description="requests in progress or waiting")
    capacity: int = Field(description="requests admitted at once (workers + queue)")
