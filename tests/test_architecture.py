"""The layering the README promises contributors: which package may import which, and files
small enough to read whole. A new import that breaks a rule fails here, naming the file."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "avseq"

BASE = ("avseq.errors", "avseq.utils")
# package -> the avseq packages its modules may import (besides itself and BASE)
ALLOWED: dict[str, tuple[str, ...]] = {
    "avseq.utils": (),
    "avseq.text": (),
    "avseq.media": ("avseq.text",),
    "avseq.features": (),
    "avseq.models.components": ("avseq.features", "avseq.text"),
    "avseq.models.checkpoint_v1": (),
    "avseq.models.checkpoint": (
        "avseq.models.checkpoint_v1",
        "avseq.models.components",
        "avseq.text",
    ),
    "avseq.models.average": ("avseq.models.checkpoint",),
    "avseq.decoding": ("avseq.text", "avseq.models.components"),
    "avseq.metrics": ("avseq.text", "avseq.media"),
    "avseq.models.tasks": (
        "avseq.models.components",
        "avseq.models.checkpoint",
        "avseq.features",
        "avseq.decoding",
        "avseq.metrics",
        "avseq.text",
    ),
    "avseq.data": ("avseq.text", "avseq.media"),
    "avseq.inference": (
        "avseq.models",
        "avseq.decoding",
        "avseq.features",
        "avseq.metrics",
        "avseq.media",
        "avseq.text",
    ),
    "avseq.evaluation": (
        "avseq.inference",
        "avseq.data",
        "avseq.models",
        "avseq.decoding",
        "avseq.metrics",
        "avseq.media",
        "avseq.text",
    ),
    "avseq.export": (
        "avseq.evaluation",
        "avseq.inference",
        "avseq.data",
        "avseq.models",
        "avseq.decoding",
        "avseq.features",
        "avseq.metrics",
        "avseq.media",
        "avseq.text",
    ),
    "avseq.study": ("avseq.models",),
    "avseq.serve": (
        "avseq.inference",
        "avseq.models",
        "avseq.decoding",
        "avseq.features",
        "avseq.metrics",
        "avseq.media",
        "avseq.text",
    ),
}
LARGEST_FILE = 400


def package_of(module: str) -> str | None:
    """The most specific package of ALLOWED that `module` belongs to."""
    matches = [p for p in ALLOWED if module == p or module.startswith(p + ".")]
    return max(matches, key=len) if matches else None


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every avseq import in the file, including those inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [(node.lineno, n) for n in names if n.startswith("avseq")]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("avseq")]
    return found


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


SOURCES = sorted(SRC.rglob("*.py"))


def is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC.parent / rel).with_suffix(".py").is_file() or (SRC.parent / rel).is_dir()


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_follow_the_layers(path: Path) -> None:
    own = package_of(module_name(path))
    if own is None:  # cli, train, callbacks, bench, config: the top, free to compose
        return
    allowed = (own, *BASE, *ALLOWED[own])
    bad = [
        f"{path.relative_to(SRC.parent)}:{line} imports {name}"
        for line, name in imports(path)
        if is_module(name) and not any(name == a or name.startswith(a + ".") for a in allowed)
    ]
    assert not bad, f"{own} may import only {allowed}: " + "; ".join(bad)


def test_generators_stay_out_of_metrics_and_inference() -> None:
    bad = [
        f"{path.relative_to(SRC.parent)}:{line}"
        for path in SOURCES
        if module_name(path).startswith(("avseq.metrics", "avseq.inference", "avseq.serve"))
        for line, name in imports(path)
        if name.startswith("avseq.data")
    ]
    assert not bad, bad


def test_files_stay_readable_whole() -> None:
    long = {
        str(p.relative_to(SRC)): n
        for p in SOURCES
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > LARGEST_FILE
    }
    assert not long, f"files over {LARGEST_FILE} lines: {long}"


def test_the_rules_catch_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from avseq.data.speech.manifest import read_manifest\n")
    assert imports(bad) == [
        (2, "avseq.data.speech.manifest"),
        (2, "avseq.data.speech.manifest.read_manifest"),
    ]
    assert package_of("avseq.models.components.recognizer") == "avseq.models.components"
    assert package_of("avseq.models.checkpoint") == "avseq.models.checkpoint"
    assert package_of("avseq.cli.main") is None
