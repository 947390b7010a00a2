"""End to end through the real configs: train, resume, evaluate, transcribe, bad checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from avseq.cli.main import main
from avseq.config import load_config
from avseq.data.synth.speech import CorpusSpec, synthesize
from avseq.train import train

TINY_MODEL = [
    "model.encoder.hidden_size=32",
    "model.encoder.num_layers=1",
    "model.frontend.conv_channels=4",
    "model.frontend.n_mels=40",
]


def corpus_overrides(spec: CorpusSpec) -> list[str]:
    return [
        f"data.corpus.root={spec.root}",
        f"data.corpus.train_hours={spec.train_hours}",
        f"data.corpus.val_hours={spec.val_hours}",
        f"data.corpus.test_hours={spec.test_hours}",
        f"data.corpus.seed={spec.seed}",
    ]


def tiny_lm_overrides(spec: CorpusSpec, runs: Path, *extra: str) -> list[str]:
    """A tiny character LSTM LM on the tiny corpus's transcripts (experiment=speech_lm)."""
    return [
        "experiment=speech_lm",
        *corpus_overrides(spec),
        f"paths.runs_dir={runs}",
        "model.net.hidden_size=32",
        "model.net.num_layers=1",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "logger.tensorboard=null",
        *extra,
    ]


def tiny_overrides(spec: CorpusSpec, runs: Path, *extra: str) -> list[str]:
    return [
        "experiment=speech",
        *corpus_overrides(spec),
        "data.num_workers=0",
        "data.batch_size=8",
        f"paths.runs_dir={runs}",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        "logger.tensorboard=null",
        "trainer.log_every_n_steps=1",
        *TINY_MODEL,
        *extra,
    ]


@pytest.fixture(scope="module")
def trained(tiny_corpus: CorpusSpec, tmp_path_factory) -> dict:
    runs = tmp_path_factory.mktemp("runs")
    result = train(load_config(tiny_overrides(tiny_corpus, runs)))
    return {"result": result, "runs": runs, "spec": tiny_corpus}


def test_train_writes_checkpoints_logs_and_latest_link(trained: dict) -> None:
    run_dir = Path(trained["result"]["run_dir"])
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "config.yaml").is_file()
    metrics = (run_dir / "csv" / "metrics.csv").read_text()
    assert "train/loss" in metrics and "val/wer" in metrics and "train/pad_frac" in metrics
    assert (trained["runs"] / "speech" / "latest").resolve() == run_dir.resolve()
    assert 0 <= trained["result"]["test/cer"] <= 2.0


def test_resume_continues_from_last(trained: dict) -> None:
    spec, runs = trained["spec"], trained["runs"]
    last = runs / "speech" / "latest" / "checkpoints" / "last.ckpt"
    before = torch.load(last, weights_only=True)
    result = train(
        load_config(
            tiny_overrides(spec, runs, "ckpt_path=last", "trainer.max_epochs=2", "test=false")
        )
    )
    after = torch.load(Path(result["run_dir"]) / "checkpoints" / "last.ckpt", weights_only=True)
    assert result["run_dir"] != trained["result"]["run_dir"]  # a new run folder
    assert after["epoch"] == before["epoch"] + 1
    assert after["global_step"] == 2 * before["global_step"]


def test_evaluate_writes_report(trained: dict, tmp_path: Path, capsys) -> None:
    ckpt = trained["result"]["best_checkpoint"]
    assert main(["evaluate", "--checkpoint", ckpt, "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "WER" in out and "substitutions" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    rows = [json.loads(x) for x in (tmp_path / "predictions.jsonl").read_text().splitlines()]
    assert summary["utterances"] == len(rows) > 0
    assert summary["manifest"].endswith("test.jsonl")  # default: the built-in test split
    w = summary["words"]
    assert w["errors"] == w["substitutions"] + w["deletions"] + w["insertions"]
    assert {"reference", "hypothesis", "wer", "cer"} <= rows[0].keys()


def test_transcribe_any_rate_and_channels_and_long_files(
    trained: dict, tmp_path: Path, capsys
) -> None:
    ckpt = trained["result"]["best_checkpoint"]
    speech = synthesize("turn on the kitchen lights", "en-us", 160, 50, 48000).numpy()
    stereo = tmp_path / "stereo48k.wav"
    sf.write(str(stereo), np.stack([speech, 0.5 * speech], axis=1), 48000)
    long = tmp_path / "long.flac"
    sf.write(str(long), np.tile(speech, 40)[: 48000 * 75], 48000)  # 75 s: chunked
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "transcribe",
            "--checkpoint",
            ckpt,
            str(stereo),
            str(long),
            "--output",
            str(out),
            "--chunk-seconds",
            "20",
        ]
    )
    assert code == 0
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["audio_filepath"] for x in lines] == [str(stereo), str(long)]
    assert all(isinstance(x["text"], str) for x in lines)
    # a bad file among good ones: an error line on stderr, the others still transcribed
    bad = tmp_path / "bad.wav"
    bad.write_text("nope")
    assert main(["transcribe", "--checkpoint", ckpt, str(bad), str(stereo)]) == 1
    captured = capsys.readouterr()
    assert f"error: {bad}" in captured.err and str(stereo) in captured.out


def test_bad_checkpoints_get_clear_errors(trained: dict, tmp_path: Path, capsys) -> None:
    ckpt = Path(trained["result"]["best_checkpoint"])
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(ckpt.read_bytes()[:1000])
    other = tmp_path / "other.ckpt"
    state = torch.load(ckpt, weights_only=True)
    state["avseq"]["task"] = "video_action"
    torch.save(state, other)
    plain = tmp_path / "plain.ckpt"
    torch.save({"weights": torch.zeros(2)}, plain)
    cases = {
        corrupt: "corrupt",
        other: "'video_action' checkpoint",
        plain: "not an avseq",
        tmp_path / "missing.ckpt": "no such checkpoint",
    }
    audio = tmp_path / "a.wav"
    sf.write(str(audio), np.full(16000, 0.1), 16000)
    for path, words in cases.items():
        assert main(["transcribe", "--checkpoint", str(path), str(audio)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and str(path) in err and words in err
        assert "\n" not in err


def test_bad_override_is_one_line(capsys) -> None:
    assert main(["train", "model.encoder.no_such_key=3", "trainer=nonexistent"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_every_experiment_config_composes() -> None:
    experiments = sorted(
        p.stem for p in (Path(__file__).parents[1] / "configs" / "experiment").glob("*.yaml")
    )
    assert "speech" in experiments
    for name in experiments:
        cfg = load_config([f"experiment={name}"])
        assert cfg.model._target_ and cfg.data._target_ and cfg.trainer._target_
    assert load_config(["trainer=ddp"]).trainer.strategy == "ddp"
    assert load_config(["trainer=gpu"]).trainer.precision == "16-mixed"
