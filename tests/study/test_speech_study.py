"""`avseq study gradients`, its speech part: each cell's recognizer is the speech recipe's with
an encoder of the shared budget; the gradient reach of a batch is each utterance's own; a tiny
run on the tiny corpus trains every cell, measures it and writes its section and figure; a
missing corpus is one clear error."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from avseq.cli.main import main
from avseq.config import load_config
from avseq.data.synth.speech import CorpusSpec
from avseq.study.models import CELLS, parameter_count
from avseq.study.speech import SPEECH_SIZES, cells, reach_curve, speech_overrides
from avseq.text.tokenizer import CharTokenizer

from ..end_to_end.test_speech import corpus_overrides


def test_every_cell_gets_the_recipes_model_at_one_encoder_budget() -> None:
    size = SPEECH_SIZES["cpu"]
    rows = cells(size)
    assert [r["cell"] for r in rows] == list(CELLS)
    for row in rows:
        cfg = load_config(speech_overrides(size, row["cell"], row["hidden"]))
        net = instantiate(cfg.model, tokenizer=CharTokenizer()).net
        encoder = net.encoder
        assert encoder.rnn_type == row["cell"] and encoder.rnn.bidirectional
        assert (encoder.rnn.input_size, encoder.rnn.num_layers) == (size.inputs, size.layers)
        assert parameter_count(encoder) == row["parameters"]
        assert 0.95 * size.budget <= row["parameters"] <= size.budget
    hidden = {r["cell"]: r["hidden"] for r in rows}
    assert hidden["rnn"] > hidden["gru"] > hidden["lstm"]


def test_the_gradient_reach_of_a_batch_is_each_utterances_own() -> None:
    """Padding a shorter utterance into a batch changes none of the norms: the batch's curve
    is the mean of the utterances' own (absolute) curves."""
    size = SPEECH_SIZES["tiny"]
    torch.manual_seed(0)
    model = load_config(speech_overrides(size, "gru", 8)).model
    net = instantiate(model, tokenizer=CharTokenizer()).net
    waves = [0.1 * torch.randn(32000), 0.1 * torch.randn(24000)]

    def probe(ws: list[torch.Tensor]) -> dict:
        padded = torch.nn.utils.rnn.pad_sequence(ws, batch_first=True)
        lengths = torch.tensor([w.numel() for w in ws])
        return reach_curve(net, {"waves": padded, "wave_lengths": lengths}, torch.device("cpu"))

    def absolute(curve: dict) -> torch.Tensor:
        return torch.tensor(curve["relative_norm"]) * curve["norm_at_0"]

    both, alone = probe(waves), [probe([w]) for w in waves]
    reach = len(both["distance"])
    assert reach == min(len(c["distance"]) for c in alone) > 10
    mean = (absolute(alone[0])[:reach] + absolute(alone[1])[:reach]) / 2
    torch.testing.assert_close(absolute(both), mean, rtol=1e-4, atol=0)
    assert both["relative_norm"][0] == 1.0


def test_a_missing_corpus_is_one_line_naming_make_data_speech(tmp_path: Path, capsys) -> None:
    argv = ["study", "gradients", "--size", "tiny", "--output", str(tmp_path / "out")]
    assert main([*argv, "--speech-config", f"data.corpus.root={tmp_path / 'none'}"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no built-in speech corpus") and err.count("\n") == 1
    assert "make data-speech" in err and "--no-speech" in err
    assert not (tmp_path / "out").exists()  # stopped before the adding problem's training


@pytest.mark.slow
def test_a_tiny_speech_study_trains_measures_and_reports(
    tiny_corpus: CorpusSpec, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "study"
    argv = ["study", "gradients", "--size", "tiny", "--output", str(out)]
    assert main([*argv, "--speech-config", *corpus_overrides(tiny_corpus)]) == 0
    report = (out / "rnn_study.md").read_text()
    assert capsys.readouterr().out.startswith(report)
    assert "## The same cells on the built-in speech corpus" in report
    assert "- Built-in speech corpus, " in report  # the summary's bullet
    figure = out / "figures" / "rnn_speech_gradient_vs_distance.png"
    assert f"]({figure.relative_to(out)})" in report
    assert figure.read_bytes()[:4] == b"\x89PNG" and figure.stat().st_size < 60_000
    speech = json.loads((out / "rnn_study.json").read_text())["speech"]
    assert speech["corpus"] == str(tiny_corpus.path)
    steps = SPEECH_SIZES["tiny"].steps
    for row in speech["cells"]:
        assert f"| {row['cell'].upper()} | {row['hidden']} |" in report
        losses = row["losses"]
        assert len(losses) == steps and all(math.isfinite(v) for v in losses)
        assert sum(losses[-3:]) < sum(losses[:3])  # CTC's first fall, towards blanks
        assert 0 <= row["cer"] <= 1.5 and row["ms_per_step"] > 0
    assert {(c["cell"], c["when"]) for c in speech["curves"]} == {
        (c, w) for c in CELLS for w in ("initial", "trained")
    }
    for curve in speech["curves"]:
        rel = curve["relative_norm"]
        assert len(rel) > 20 and rel[0] == 1.0 and all(math.isfinite(v) for v in rel)
        if curve["when"] == "initial":  # small initial weights: each frame back shrinks it
            assert max(rel) == 1.0
            if curve["cell"] == "rnn":
                assert all(b <= a for a, b in itertools.pairwise(rel))
                assert rel[10] < 0.05 and rel[-1] < 1e-4
