"""The word LM builder: in Python by default, handed to KenLM's `lmplz` when it is installed
(here a stand-in program on PATH that records what it was given)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from avseq.cli.main import main

from ..conftest import write_manifest, write_tone

FAKE_LMPLZ = """#!{python}
import sys
from pathlib import Path
Path({record!r}).write_text(" ".join(sys.argv[1:]) + "\\n" + sys.stdin.read())
print("\\\\data\\\\\\nngram 1=3\\nngram 2=2\\n\\n\\\\1-grams:\\n-1.0\\tcall\\n\\\\end\\\\")
"""


def manifest(tmp_path: Path) -> Path:
    texts = ["Call my  Sister", "call the office"]
    entries = [
        {"audio_filepath": str(write_tone(tmp_path / f"{i}.wav")), "duration": 1.0, "text": t}
        for i, t in enumerate(texts)
    ]
    return write_manifest(tmp_path / "train.jsonl", entries)


def test_python_builder_without_lmplz(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "lm.arpa"
    assert main(["word-lm", str(manifest(tmp_path)), "--output", str(out)]) == 0
    assert "(python)" in capsys.readouterr().out
    assert "\\3-grams:" in out.read_text()


def test_lmplz_gets_the_normalised_text_when_installed(tmp_path: Path, monkeypatch, capsys):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    record = tmp_path / "lmplz_input.txt"
    fake = bin_dir / "lmplz"
    fake.write_text(FAKE_LMPLZ.format(python=sys.executable, record=str(record)))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "lm.arpa"
    assert main(["word-lm", str(manifest(tmp_path)), "--order", "2", "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(lmplz)" in printed and "3 1-grams, 2 2-grams" in printed
    args, *lines = record.read_text().splitlines()
    assert args == "-o 2 --discount_fallback"
    assert lines == ["call my sister", "call the office"]  # normalised like the transcripts
    assert out.read_text().startswith("\\data\\") and not out.with_name("lm.arpa.tmp").exists()
