"""The logger choices beside TensorBoard/CSV, through the real configs: `logger=mlflow` (a local
store shared by the runs) and `logger=wandb` (offline mode) record the run's metrics and
hyperparameters, and keep the CSV log."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from avseq.config import load_config
from avseq.data.synth.speech import CorpusSpec
from avseq.train import train

from .test_speech import tiny_overrides


def logged_names(run_dir: Path) -> set[str]:
    with (run_dir / "csv" / "metrics.csv").open() as f:
        return {k for row in csv.DictReader(f) for k, v in row.items() if v}


def test_mlflow_logger_records_the_run_in_a_local_store(
    tiny_corpus: CorpusSpec, tmp_path: Path
) -> None:
    from mlflow.tracking import MlflowClient

    cfg = load_config(tiny_overrides(tiny_corpus, tmp_path, "logger=mlflow", "test=false"))
    result = train(cfg)
    store = tmp_path / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    experiment = client.get_experiment_by_name("avseq-speech")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.tags["run_dir"] == result["run_dir"]
    assert {"train/loss", "val/wer", "val/cer"} <= set(run.data.metrics)
    assert float(run.data.params["seed"]) == cfg.seed
    history = client.get_metric_history(run.info.run_id, "train/loss")
    assert len(history) >= 3  # a row per logged step, not only the last value
    assert {"train/loss", "val/wer"} <= logged_names(Path(result["run_dir"]))


def test_wandb_logger_writes_an_offline_run_in_the_run_folder(
    tiny_corpus: CorpusSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wandb

    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    cfg = load_config(tiny_overrides(tiny_corpus, tmp_path, "logger=wandb", "test=false"))
    result = train(cfg)
    wandb.finish()  # as the end of the `avseq train` process does
    run_dir = Path(result["run_dir"])
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    (events,) = offline.glob("run-*.wandb")  # the event log `wandb sync` uploads
    records = events.read_bytes()
    assert records.startswith(b":W&B")
    assert records.count(b"train/loss") >= 3  # a history row per logged step
    for key in (b"val/wer", b"val/cer", b"rnn_type", b"seed"):  # metrics and hyperparameters
        assert key in records
    assert {"train/loss", "val/wer"} <= logged_names(run_dir)
