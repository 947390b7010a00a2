"""`avseq average`: the element-wise mean of checkpoints of one network, written as a checkpoint
that every command loads; checkpoints of different networks are refused."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch

from avseq.cli.main import main
from avseq.inference.speech import Transcriber
from avseq.models.checkpoint import load_checkpoint

pytestmark = pytest.mark.slow


def shifted(ckpt_path: Path, out: Path, delta: float) -> Path:
    ckpt = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    for k, v in ckpt["state_dict"].items():
        if v.is_floating_point():
            ckpt["state_dict"][k] = v + delta
    torch.save(ckpt, out)
    return out


def test_average_is_the_elementwise_mean_and_loads_everywhere(
    tiny_speech_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    a = tiny_speech_checkpoint
    b = shifted(a, tmp_path / "b.ckpt", 0.25)
    out = tmp_path / "avg" / "averaged.ckpt"
    assert main(["average", "--checkpoints", str(a), str(b), "--output", str(out)]) == 0
    sa, sb = (load_checkpoint(p, "speech")["state_dict"] for p in (a, b))
    averaged = load_checkpoint(out, "speech")
    for k, v in averaged["state_dict"].items():
        if v.is_floating_point():
            torch.testing.assert_close(v, (sa[k] + sb[k]) / 2)
        else:
            assert torch.equal(v, sb[k])
    assert averaged["avseq"]["averaged_from"] == [str(a), str(b)]
    transcriber = Transcriber(out, "cpu")  # self-describing: tokenizer, network, settings
    assert isinstance(transcriber.transcribe_waves([torch.zeros(16000)])[0], str)
    assert "averaged 2 checkpoints" in capsys.readouterr().out


def test_average_refuses_other_networks_and_overwriting_a_source(
    tiny_speech_checkpoint: Path, tmp_path: Path, capsys
) -> None:
    ckpt = torch.load(tiny_speech_checkpoint, map_location="cpu", weights_only=True)
    other = copy.deepcopy(ckpt)
    other["avseq"]["net"]["encoder"]["hidden_size"] = 64
    torch.save(other, tmp_path / "other.ckpt")
    a = str(tiny_speech_checkpoint)
    cases = [
        ([a, str(tmp_path / "other.ckpt")], str(tmp_path / "x.ckpt"), "a different network"),
        ([a], str(tmp_path / "x.ckpt"), "at least two"),
        ([a, a], a, "is one of the checkpoints averaged"),
    ]
    for sources, out, expected in cases:
        assert main(["average", "--checkpoints", *sources, "--output", out]) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1
    assert not (tmp_path / "x.ckpt").exists()
