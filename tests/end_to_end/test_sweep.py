"""`avseq train -m`: a Hydra multirun of tiny runs, one run folder per job, and a summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from avseq.cli.main import main
from avseq.data.synth.speech import CorpusSpec

from .test_speech import tiny_overrides

pytestmark = pytest.mark.slow


def test_a_three_point_sweep_trains_each_cell_type(
    tiny_corpus: CorpusSpec, tmp_path: Path, capsys
) -> None:
    runs = tmp_path / "runs"
    overrides = [o for o in tiny_overrides(tiny_corpus, runs, "test=false") if "rnn_type" not in o]
    assert main(["train", "-m", *overrides, "model.net.encoder.rnn_type=rnn,lstm,gru"]) == 0
    out = capsys.readouterr().out
    sweep = next((runs / "speech" / "multirun").iterdir())
    records = json.loads((sweep / "summary.json").read_text())
    assert [r["job"] for r in records] == [0, 1, 2]
    assert all(r["status"] == "done" for r in records)
    types = [next(o for o in r["overrides"] if "rnn_type" in o) for r in records]
    assert types == [f"model.net.encoder.rnn_type={t}" for t in ("rnn", "lstm", "gru")]
    for job, rnn_type in enumerate(("rnn", "lstm", "gru")):
        run = sweep / str(job)
        assert (run / "checkpoints" / "best.ckpt").is_file()
        assert f"rnn_type: {rnn_type}" in (run / "config.yaml").read_text()
        assert records[job]["objective"] == pytest.approx(records[job]["metrics"]["val/wer"])
    assert "summary" not in out or str(sweep) in out


def test_a_bad_value_fails_its_job_and_the_sweep_goes_on(
    tiny_corpus: CorpusSpec, tmp_path: Path, capsys
) -> None:
    runs = tmp_path / "runs"
    overrides = tiny_overrides(tiny_corpus, runs, "test=false")
    assert main(["train", "-m", *overrides, "data.batch_size=0,8"]) == 1
    err = capsys.readouterr().err
    assert "error: job 0 (" in err and "data.batch_size=0" in err and "Traceback" not in err
    sweep = next((runs / "speech" / "multirun").iterdir())
    records = json.loads((sweep / "summary.json").read_text())
    assert [r["status"] for r in records] == ["failed", "done"]
