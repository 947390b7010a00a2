"""End to end through the real configs: train, resume, evaluate, transcribe, bad checkpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from avseq.cli.main import main
from avseq.config import load_config
from avseq.data.synth.speech import CorpusSpec, synthesize
from avseq.evaluation.speech import evaluate_speech
from avseq.inference.speech import DecodeOptions
from avseq.metrics.asr import ASRScore
from avseq.text.normalize import normalize_text
from avseq.text.tokenizer import CharTokenizer
from avseq.train import train

from ..conftest import write_manifest, write_tone

TINY_MODEL = [
    "model.net.encoder.hidden_size=32",
    "model.net.encoder.num_layers=1",
    "model.net.subsampler.channels=4",
    "model.net.frontend.n_mels=40",
]
TINY_LM = ["model.net.hidden_size=32", "model.net.num_layers=1"]


def corpus_overrides(spec: CorpusSpec) -> list[str]:
    return [
        f"data.corpus.root={spec.root}",
        f"data.corpus.train_hours={spec.train_hours}",
        f"data.corpus.val_hours={spec.val_hours}",
        f"data.corpus.test_hours={spec.test_hours}",
        f"data.corpus.unseen_hours={spec.unseen_hours}",
        f"data.corpus.seed={spec.seed}",
    ]


def tiny_lm_overrides(spec: CorpusSpec, runs: Path, *extra: str) -> list[str]:
    """A tiny character LSTM LM on the tiny corpus's transcripts (experiment=speech_lm),
    trained long enough (3 batches x 8 epochs, seconds) to beat the unigram baseline."""
    return [
        "experiment=speech_lm",
        *corpus_overrides(spec),
        f"paths.runs_dir={runs}",
        *TINY_LM,
        "data.batch_size=16",
        "model.optimizer.lr=0.02",
        "trainer.max_epochs=8",
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


@pytest.mark.slow
def test_train_writes_checkpoints_logs_and_latest_link(trained: dict) -> None:
    run_dir = Path(trained["result"]["run_dir"])
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "config.yaml").is_file()
    metrics = (run_dir / "csv" / "metrics.csv").read_text()
    assert "train/loss" in metrics and "val/wer" in metrics and "train/pad_frac" in metrics
    assert (trained["runs"] / "speech" / "latest").resolve() == run_dir.resolve()
    assert 0 <= trained["result"]["test/cer"] <= 2.0


@pytest.mark.slow
def test_resume_continues_from_last(trained: dict) -> None:
    """A finished run is passed by `ckpt_path=last` (it names the way to continue it), and
    continued explicitly from its last.ckpt in a new run folder."""
    spec, runs = trained["spec"], trained["runs"]
    last = runs / "speech" / "latest" / "checkpoints" / "last.ckpt"
    before = torch.load(last, weights_only=True)
    assert main(["train", *tiny_overrides(spec, runs, "ckpt_path=last")]) == 2
    result = train(
        load_config(
            tiny_overrides(spec, runs, f"ckpt_path={last}", "trainer.max_epochs=2", "test=false")
        )
    )
    after = torch.load(Path(result["run_dir"]) / "checkpoints" / "last.ckpt", weights_only=True)
    assert result["run_dir"] != trained["result"]["run_dir"]  # a new run folder
    assert after["epoch"] == before["epoch"] + 1
    assert after["global_step"] == 2 * before["global_step"]


COUNTS = ("substitutions", "deletions", "insertions", "reference_length")


def check_report(out_dir: Path) -> tuple[dict, list[dict]]:
    """An evaluation report agrees with itself: the summary's counts and rates are the sums of
    its per-utterance rows, and summary.md shows them. Returns (summary, rows)."""
    summary = json.loads((out_dir / "summary.json").read_text())
    rows = [json.loads(x) for x in (out_dir / "predictions.jsonl").read_text().splitlines()]
    assert summary["utterances"] == len(rows) > 0
    markdown = (out_dir / "summary.md").read_text()
    for unit, rate, key in (("words", "wer", "word_errors"), ("chars", "cer", "char_errors")):
        total = summary[unit]
        assert {k: total[k] for k in COUNTS} == {k: sum(r[key][k] for r in rows) for k in COUNTS}
        errors = total["substitutions"] + total["deletions"] + total["insertions"]
        assert summary[rate] == pytest.approx(errors / total["reference_length"])
        cells = " | ".join(str(total[k]) for k in COUNTS)
        assert f"| {unit} | {100 * summary[rate]:.2f}% | {cells} |" in markdown
    assert f"decoding: {summary['decoding']}" in markdown
    return summary, rows


def test_error_counts_on_known_pairs() -> None:
    score = ASRScore()
    pairs = [
        ("the cat sat on the mat", "the cat sat on mat"),  # a word deleted
        ("turn on the lights", "turn off the lights now"),  # one substituted, one inserted
        ("a b", ""),  # nothing recognised: all deleted
        ("hello", "hello"),
    ]
    words, chars = zip(*(score.add(ref, hyp) for ref, hyp in pairs), strict=True)
    ops = ("substitutions", "deletions", "insertions")
    assert [tuple(getattr(w, k) for k in ops) for w in words] == [
        (0, 1, 0),
        (1, 0, 1),
        (0, 2, 0),
        (0, 0, 0),
    ]
    assert (chars[0].deletions, chars[0].substitutions, chars[0].insertions) == (4, 0, 0)
    assert (chars[1].substitutions, chars[1].insertions) == (1, 5)  # "on" -> "off", " now"
    total = score.words.as_dict()
    assert total == {
        "rate": pytest.approx(5 / 13),
        "errors": 5,
        "substitutions": 1,
        "deletions": 3,
        "insertions": 1,
        "reference_length": 13,
    }
    assert score.chars.reference_length == sum(len(ref) for ref, _ in pairs)


@dataclass
class ScriptedTranscriber:
    """Stands in for `Transcriber` in `evaluate_speech`: returns the given hypotheses in
    order, so the report's counts are known without a trained model."""

    hypotheses: list[str]
    checkpoint: str = "scripted.ckpt"
    tokenizer: CharTokenizer = field(default_factory=CharTokenizer)
    sample_rate: int = 16000
    batch_size: int = 16
    options: DecodeOptions = field(default_factory=DecodeOptions)
    compute_seconds: float = 0.1
    audio_seconds: float = 1.0
    torch_device: str = "cpu"

    def transcribe_waves(self, waves: list) -> list[str]:
        out, self.hypotheses = self.hypotheses[: len(waves)], self.hypotheses[len(waves) :]
        return out


def test_evaluation_report_counts_known_errors(tmp_path: Path) -> None:
    refs = ["The cat sat on the mat", "turn on the lights", "open the door", "hello"]
    hyps = ["the cat sat on mat", "turn off the lights now", "", "hello"]
    entries = [
        {"audio_filepath": str(write_tone(tmp_path / f"{i}.wav")), "duration": 1.0, "text": t}
        for i, t in enumerate(refs)
    ]
    manifest = write_manifest(tmp_path / "known.jsonl", entries)
    summary = evaluate_speech(ScriptedTranscriber(list(hyps)), manifest, tmp_path / "ev")
    assert summary["words"] == {
        "rate": pytest.approx(6 / 14),
        "errors": 6,
        "substitutions": 1,
        "deletions": 4,
        "insertions": 1,
        "reference_length": 14,
    }
    _, rows = check_report(tmp_path / "ev")
    assert [r["reference"] for r in rows] == [r.lower() for r in refs]  # normalized
    assert [r["hypothesis"] for r in rows] == hyps
    assert [r["wer"] for r in rows] == [round(1 / 6, 4), 0.5, 1.0, 0.0]
    assert "| words | 42.86% | 1 | 4 | 1 | 14 |" in (tmp_path / "ev" / "summary.md").read_text()


@pytest.mark.slow
def test_evaluate_writes_report(trained: dict, tmp_path: Path, capsys) -> None:
    ckpt = trained["result"]["best_checkpoint"]
    assert main(["evaluate", "--checkpoint", ckpt, "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "WER" in out and "substitutions" in out
    summary, rows = check_report(tmp_path)
    assert summary["manifest"].endswith("test.jsonl")  # default: the built-in test split
    assert summary["decoding"] == "greedy"
    test_split = trained["spec"].manifest("test").read_text().splitlines()
    assert [r["reference"] for r in rows] == [
        normalize_text(json.loads(line)["text"]) for line in test_split
    ]


@pytest.mark.slow
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


@pytest.mark.slow
def test_bad_checkpoints_get_clear_errors(trained: dict, tmp_path: Path, capsys) -> None:
    ckpt = Path(trained["result"]["best_checkpoint"])
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(ckpt.read_bytes()[:1000])
    other = tmp_path / "other.ckpt"
    state = torch.load(ckpt, weights_only=True)
    state["avseq"]["kind"] = "video"
    torch.save(state, other)
    plain = tmp_path / "plain.ckpt"
    torch.save({"weights": torch.zeros(2)}, plain)
    cases = {
        corrupt: "corrupt",
        other: "'video' checkpoint",
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
    assert main(["train", "model.net.encoder.no_such_key=3", "trainer=nonexistent"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_trainer_configs_compose() -> None:
    """The multi-device trainers (test_experiments.py trains every experiment)."""
    assert load_config(["trainer=ddp"]).trainer.strategy == "ddp"
    assert load_config(["trainer=gpu"]).trainer.precision == "16-mixed"
