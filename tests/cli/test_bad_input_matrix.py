"""Every bad input a user can give the command line, and what they are promised for it: exit
status 2 (a bad option, file or config, refused before any work) or 1 (some inputs bad, the
rest done), stderr exactly one `error: ...` line naming the value or file, no traceback, and
nothing half-written left behind. The cases that need no model run in well under a second
each; the few that decode share one tiny trained checkpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from avseq.cli.main import main
from avseq.config import check_config, load_config
from avseq.data.synth.speech import CorpusSpec
from avseq.data.synth.video import VideoCorpusSpec

from ..conftest import write_manifest, write_tone
from ..end_to_end.test_experiments import EXPERIMENTS
from ..end_to_end.test_experiments import tiny_overrides as experiment_overrides
from ..end_to_end.test_speech import trained  # noqa: F401 (the tiny speech checkpoint)


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error(err: str, *words: str) -> str:
    """The single `error:` line of stderr, checked to name every one of `words`."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "Traceback" not in err, err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


class Evil:
    """A pickle that would create a folder when unpickled by anything but weights_only."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.fixture
def files(tmp_path: Path, monkeypatch) -> dict[str, Path]:
    """Inputs of every kind, good and bad, in a working folder of their own."""
    monkeypatch.chdir(tmp_path)
    audio = write_tone(tmp_path / "a.wav")
    (tmp_path / "folder").mkdir()
    (tmp_path / "no_audio").mkdir()
    (tmp_path / "no_audio" / "notes.txt").write_text("no audio here")
    (tmp_path / "manifest_dir.jsonl").mkdir()
    latin1 = tmp_path / "classes.txt"
    latin1.write_bytes("caf\xe9\nthe\n".encode("latin-1"))
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": Evil(tmp_path / "pwned")}, evil)
    (tmp_path / "garbage.ckpt").write_bytes(b"PK\x03\x04 not really a checkpoint")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.ckpt")
    return {
        "audio": audio,
        "folder": tmp_path / "folder",
        "no_audio": tmp_path / "no_audio",
        "manifest_dir": tmp_path / "manifest_dir.jsonl",
        "latin1_classes": latin1,
        "evil": evil,
        "garbage": tmp_path / "garbage.ckpt",
        "plain": tmp_path / "plain.ckpt",
        "file": audio,
        "ckpt": tmp_path / "missing.ckpt",
    }


# (argv with {names} of `files`, words the error line must hold)
CASES = {
    "transcribe --batch-size 0": (
        "transcribe --checkpoint {ckpt} {audio} --batch-size 0",
        ["--batch-size", "at least 1"],
    ),
    "transcribe --batch-size abc": (
        "transcribe --checkpoint {ckpt} {audio} --batch-size abc",
        ["--batch-size", "'abc'"],
    ),
    "transcribe --chunk-seconds -5": (
        "transcribe --checkpoint {ckpt} {audio} --chunk-seconds -5",
        ["--chunk-seconds", "-5"],
    ),
    "transcribe --chunk-seconds 0": (
        "transcribe --checkpoint {ckpt} {audio} --chunk-seconds 0",
        ["--chunk-seconds", "positive"],
    ),
    "transcribe --device tpu": (
        "transcribe --checkpoint {ckpt} {audio} --device tpu",
        ["--device", "tpu"],
    ),
    "transcribe --lm missing.arpa": (
        "transcribe --checkpoint {ckpt} {audio} --decoder ctc-beam --lm nope.arpa",
        ["--lm nope.arpa", "no such file"],
    ),
    "transcribe --lexicon a folder": (
        "transcribe --checkpoint {ckpt} {audio} --decoder ctc-beam --lexicon {folder}",
        ["--lexicon", "a folder"],
    ),
    "transcribe --lm without beam search": (
        "transcribe --checkpoint {ckpt} {audio} --lm {audio}",
        ["need a beam search"],
    ),
    "transcribe --ctc-weight 2": (
        "transcribe --checkpoint {ckpt} {audio} --decoder joint --ctc-weight 2",
        ["--ctc-weight", "between 0 and 1"],
    ),
    "transcribe --beam 0": ("transcribe --checkpoint {ckpt} {audio} --beam 0", ["--beam"]),
    "transcribe --output an existing folder": (
        "transcribe --checkpoint {ckpt} {audio} --output {folder}",
        ["--output", "is a folder"],
    ),
    "transcribe --format srt --output a file": (
        "transcribe --checkpoint {ckpt} {audio} --format srt --output {file}",
        ["--output", "is a file"],
    ),
    "transcribe --output under a file": (
        "transcribe --checkpoint {ckpt} {audio} --output {file}/out.jsonl",
        ["--output", "is a file"],
    ),
    "transcribe --attention-plot a file": (
        "transcribe --checkpoint {ckpt} {audio} --attention-plot {file}",
        ["--attention-plot", "is a file"],
    ),
    "transcribe a folder without audio": (
        "transcribe --checkpoint {ckpt} {no_audio}",
        ["no_audio", "no audio files"],
    ),
    "transcribe a manifest that is a folder": (
        "transcribe --checkpoint {ckpt} {manifest_dir}",
        ["manifest_dir.jsonl", "no audio files"],
    ),
    "transcribe a missing checkpoint": (
        "transcribe --checkpoint {ckpt} {audio}",
        ["missing.ckpt", "no such checkpoint"],
    ),
    "transcribe a corrupt checkpoint": (
        "transcribe --checkpoint {garbage} {audio}",
        ["garbage.ckpt", "not a readable checkpoint"],
    ),
    "transcribe a crafted pickle checkpoint": (
        "transcribe --checkpoint {evil} {audio}",
        ["evil.ckpt", "not a readable checkpoint"],
    ),
    "classify a checkpoint that is not avseq's": (
        "classify --checkpoint {plain} {audio}",
        ["plain.ckpt", "not an avseq checkpoint"],
    ),
    "evaluate a corrupt checkpoint": (
        "evaluate --checkpoint {garbage}",
        ["garbage.ckpt", "not a readable checkpoint"],
    ),
    "transcribe without --checkpoint": ("transcribe {audio}", ["--checkpoint", "required"]),
    "an unknown command": ("transcrbe {audio}", ["invalid choice", "transcrbe"]),
    "classify --batch-size 0": (
        "classify --checkpoint {ckpt} {audio} --batch-size 0",
        ["--batch-size"],
    ),
    "classify --views 0": ("classify --checkpoint {ckpt} {audio} --views 0", ["--views"]),
    "classify --top-k 0": ("classify --checkpoint {ckpt} {audio} --top-k 0", ["--top-k"]),
    "classify --device tpu": ("classify --checkpoint {ckpt} {audio} --device tpu", ["tpu"]),
    "classify --output a folder": (
        "classify --checkpoint {ckpt} {audio} --output {folder}",
        ["--output", "is a folder"],
    ),
    "classify a folder without videos": (
        "classify --checkpoint {ckpt} {no_audio}",
        ["no_audio", "no video files"],
    ),
    "caption --beam 0": ("caption --checkpoint {ckpt} {audio} --beam 0", ["--beam"]),
    "caption --max-words 0": ("caption --checkpoint {ckpt} {audio} --max-words 0", ["--max"]),
    "caption --output a folder": (
        "caption --checkpoint {ckpt} {audio} --output {folder}",
        ["--output", "is a folder"],
    ),
    "evaluate --batch-size 0": ("evaluate --checkpoint {ckpt} --batch-size 0", ["--batch"]),
    "evaluate --views 0": ("evaluate --checkpoint {ckpt} --views 0", ["--views"]),
    "evaluate --beam 0": ("evaluate --checkpoint {ckpt} --beam 0", ["--beam"]),
    "evaluate --workers -1": ("evaluate --checkpoint {ckpt} --workers -1", ["--workers"]),
    "evaluate --output-dir a file": (
        "evaluate --checkpoint {ckpt} --output-dir {file}",
        ["--output-dir", "is a file"],
    ),
    "evaluate a missing checkpoint": ("evaluate --checkpoint {ckpt}", ["no such checkpoint"]),
    "check-data a manifest that is a folder": (
        "check-data {manifest_dir}",
        ["manifest_dir.jsonl", "is a folder"],
    ),
    "check-data a Latin-1 class list": (
        "check-data {folder} --classes {latin1_classes}",
        ["classes.txt:1", "not UTF-8"],
    ),
    "word-lm --order 0": ("word-lm {audio} --order 0 --output lm.arpa", ["--order"]),
    "train data.batch_size=0": ("train data.batch_size=0", ["data.batch_size=0"]),
    "train model.optimizer.lr=-1": ("train model.optimizer.lr=-1", ["model.optimizer", "-1"]),
    "train trainer.max_epochs=abc": (
        "train trainer.max_epochs=abc",
        ["trainer.max_epochs='abc'", "an integer"],
    ),
    "train a key a target does not take": (
        "train +model.net.encoder.hiden_size=3",
        ["model.net.encoder.hiden_size", "did you mean model.net.encoder.hidden_size"],
    ),
    "train an unread key under strict": (
        "train +foo.bar=1 strict=true",
        ["foo.bar", "strict"],
    ),
    "train a callback without _target_": ("train +callbacks.mine.x=1", ["callbacks.mine"]),
    "train a constructor's own error": (
        "train model.net.encoder.rnn_type=transformer",
        ["rnn_type", "transformer", "SpeechTask"],
    ),
    "train a crafted pickle as ckpt_path": (
        "train ckpt_path={evil}",
        ["evil.ckpt", "not a readable checkpoint", "Weights only load failed"],
    ),
    "train a missing ckpt_path": ("train ckpt_path={ckpt}", ["missing.ckpt"]),
    "train a ckpt_path that is not avseq's": ("train ckpt_path={plain}", ["not an avseq"]),
    "train an unknown config group option": ("train trainer=nonexistent", ["trainer"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_leaves_nothing(case: str, files, tmp_path, capsys) -> None:
    template, words = CASES[case]
    argv = template.format(**{k: str(v) for k, v in files.items()}).split()
    if argv[0] == "train":
        argv.append(f"paths.runs_dir={tmp_path / 'runs'}")
    before = tree(tmp_path)
    code, _, err = run(argv, capsys)
    assert code == 2, err
    one_error(err, *words)
    left = tree(tmp_path) - before
    if case == "train a constructor's own error":  # train() has made the run folder
        left = {p for p in left if not p.startswith("runs")}
    assert not left, left
    assert not (tmp_path / "pwned").exists()  # the pickle's code never ran


def test_latin1_and_bom_manifests_in_check_data(tmp_path: Path, capsys) -> None:
    tone = write_tone(tmp_path / "a.wav")
    line = json.dumps({"audio_filepath": str(tone), "duration": 1.0, "text": "hello"})
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(("\ufeff" + line + "\n" + line + "\n").encode("utf-8"))
    code, out, err = run(["check-data", str(bom)], capsys)
    assert code == 0 and out.splitlines()[-1].endswith("2 usable entries, 0 problem(s)"), out
    latin1 = tmp_path / "latin1.jsonl"
    accented = line.replace("hello", "caf\xe9")
    latin1.write_bytes((line + "\n" + accented + "\n").encode("latin-1"))
    code, out, err = run(["check-data", str(latin1)], capsys)
    assert code == 1 and not err
    problems = out.splitlines()
    assert problems[0].startswith(f"{latin1}:2: not UTF-8 text (byte 0xe9)") and "iconv" in out
    assert problems[-1].endswith("1 usable entries, 1 problem(s)")


def test_config_keys_nothing_reads_are_named() -> None:
    def unread(*overrides: str) -> list[str]:
        return check_config(load_config(list(overrides)), list(overrides))

    assert unread() == []
    [foo] = unread("+foo.bar=1")
    assert foo.startswith("config key foo.bar: nothing in this run reads it")
    [typo] = unread("+data.tokenizer.knd=char")
    assert "data.tokenizer.knd" in typo and "did you mean data.tokenizer.kind?" in typo
    [paths] = unread("+paths.ouput_dir=x")
    assert "did you mean paths.output_dir?" in paths
    # keys a target takes by name or through **kwargs, and a callback of one's own, are read
    callback = ["+callbacks.stop._target_=lightning.pytorch.callbacks.EarlyStopping",
                "+callbacks.stop.monitor=val/wer"]  # fmt: skip
    assert unread("+logger.tensorboard.max_queue=5", "+trainer.limit_test_batches=1") == []
    assert unread(*callback) == []


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_reads_every_key(name: str, tmp_path: Path) -> None:
    """The recipes, and the tiny versions test_experiments.py trains, warn about nothing."""

    class Fixtures:  # the specs the tiny overrides read, without generating any data
        @staticmethod
        def getfixturevalue(fixture: str):
            if fixture == "tiny_corpus":
                return CorpusSpec(root=str(tmp_path), train_hours=0.01)
            if fixture == "keyword_manifests":
                return {split: tmp_path / f"{split}.jsonl" for split in ("train", "val", "test")}
            return VideoCorpusSpec(root=str(tmp_path), n_train=4, n_val=2, n_test=2, n_comp=2)

    overrides = [f"experiment={name}"]
    assert check_config(load_config(overrides), overrides) == []
    tiny = experiment_overrides(name, load_config(overrides), Fixtures(), tmp_path)
    assert check_config(load_config(tiny), tiny) == []


@pytest.mark.slow
def test_decoding_cases_with_a_checkpoint(trained: dict, tmp_path: Path, capsys) -> None:  # noqa: F811
    ckpt = trained["result"]["best_checkpoint"]
    spec: CorpusSpec = trained["spec"]
    # two inputs with the same name: two subtitle files, each named in its row
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        write_tone(tmp_path / sub / "take.wav", freq=300 if sub == "x" else 500)
    srt = tmp_path / "srt"
    inputs = [str(tmp_path / "x" / "take.wav"), str(tmp_path / "y" / "take.wav")]
    code, out, err = run(
        ["transcribe", "--checkpoint", ckpt, *inputs, "--format", "srt", "--output", str(srt)],
        capsys,
    )
    assert code == 0, err
    rows = [json.loads(x) for x in out.splitlines()]
    assert [r["srt"] for r in rows] == [str(srt / "take.srt"), str(srt / "take-2.srt")]
    assert sorted(os.listdir(srt)) == ["take-2.srt", "take.srt"]
    # a bad file among good ones: named on stderr, exit 1, the good one still transcribed
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt nonsense")
    code, out, err = run(["transcribe", "--checkpoint", ckpt, str(broken), inputs[0]], capsys)
    assert code == 1 and json.loads(out)["audio_filepath"] == inputs[0]
    one_error(err, str(broken), "not a readable audio file")
    # a folder of audio is transcribed file by file
    code, out, err = run(["transcribe", "--checkpoint", ckpt, str(tmp_path / "x")], capsys)
    assert code == 0 and json.loads(out)["audio_filepath"] == inputs[0]
    # evaluate: a BOM is accepted; a Latin-1 line is skipped, named, and the exit status says so
    test_lines = spec.manifest("test").read_text().splitlines()[:3]
    base = spec.manifest("test").parent
    lines = [
        json.dumps({**json.loads(x), "audio_filepath": str(base / json.loads(x)["audio_filepath"])})
        for x in test_lines
    ]
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode("utf-8"))
    code, _, err = run(["evaluate", "--checkpoint", ckpt, "--manifest", str(bom),
                        "--output-dir", str(tmp_path / "ev_bom")], capsys)  # fmt: skip
    assert code == 0, err
    assert json.loads((tmp_path / "ev_bom" / "summary.json").read_text())["utterances"] == 3
    latin1 = tmp_path / "latin1.jsonl"
    bad = json.dumps({"audio_filepath": inputs[0], "text": "caf\xe9"}, ensure_ascii=False)
    latin1.write_bytes(("\n".join([*lines, bad]) + "\n").encode("latin-1"))
    code, _, err = run(["evaluate", "--checkpoint", ckpt, "--manifest", str(latin1),
                        "--output-dir", str(tmp_path / "ev_latin1")], capsys)  # fmt: skip
    assert code == 1
    assert err.strip().splitlines()[-1].startswith("warning: 1 utterance(s) skipped")
    summary = json.loads((tmp_path / "ev_latin1" / "summary.json").read_text())
    assert (summary["utterances"], summary["skipped"]) == (3, 1)  # the finished work is kept
    # a manifest of only bad lines, and a folder as the manifest: refused, nothing written
    only_bad = write_manifest(tmp_path / "only_bad.jsonl", [{"audio_filepath": "gone.wav"}])
    for manifest, words in ((only_bad, "no utterance could be evaluated"),
                            (tmp_path / "x", "is a folder")):  # fmt: skip
        out_dir = tmp_path / f"ev_{manifest.stem}"
        code, _, err = run(["evaluate", "--checkpoint", ckpt, "--manifest", str(manifest),
                            "--output-dir", str(out_dir)], capsys)  # fmt: skip
        assert code == 2
        one_error(err.strip().splitlines()[-1], str(manifest), words)
        assert not out_dir.exists()
    # the output is checked before any decoding: nothing written, no stray temporary file
    folder = tmp_path / "already_a_folder"
    folder.mkdir()
    code, _, err = run(["transcribe", "--checkpoint", ckpt, *inputs, "--output", str(folder)],
                       capsys)  # fmt: skip
    assert code == 2 and not list(tmp_path.glob("*.tmp")) and not os.listdir(folder)
    one_error(err, "--output", str(folder))
