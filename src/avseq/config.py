"""Composing the Hydra configs under `configs/` (the repository's, or $AVSEQ_CONFIG_DIR), and
checking a composed config before any work: bad values and keys nothing reads."""

from __future__ import annotations

import difflib
import inspect
import os
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from hydra._internal.utils import _locate
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from avseq.errors import AvseqError


def config_dir() -> Path:
    """The configs folder: $AVSEQ_CONFIG_DIR, else `configs/` of the source checkout."""
    env = os.environ.get("AVSEQ_CONFIG_DIR")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "configs"
    if not (path / "train.yaml").is_file():
        raise AvseqError(
            f"{path}: no train.yaml here; set AVSEQ_CONFIG_DIR to avseq's configs folder"
        )
    return path


def load_config(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """Composes `config_name` with command-line style overrides (`key=value`)."""
    try:
        if GlobalHydra.instance().is_initialized():  # inside Hydra's app: a multirun job
            cfg = compose(config_name=config_name, overrides=list(overrides))
        else:
            with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
                cfg = compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        first = str(err).strip().splitlines()[0]
        raise AvseqError(f"bad configuration override: {first}") from None
    OmegaConf.set_struct(cfg, False)
    return cfg


HYDRA_KEYS = frozenset({"_target_", "_partial_", "_convert_", "_recursive_", "_args_"})
# train() instantiates every entry of these groups, whatever its name
COLLECTIONS = ("callbacks", "logger")
# counts the data modules and their samplers divide by, checked before any data is made
AT_LEAST = {"data.batch_size": 1, "data.eval_batch_size": 1, "data.num_workers": 0}


def check_config(cfg: DictConfig, overrides: Sequence[str] = ()) -> list[str]:
    """Checks a composed training config before any work: values the constructors would refuse
    only later (a wrong type, a count below its minimum, an optimizer setting, an argument a
    `_target_` does not take) are errors, and keys that nothing in the run reads (a typo, a
    `+key` added by hand) are warnings naming the closest key that exists, or errors when the
    config says `strict: true`.

    A key is read when it is a parameter of the `_target_` it sits under (its signature; any
    key when it takes **kwargs), or, outside any target, when the project's configs define it
    there (composed with the same config-group choices as `overrides`); every entry of
    `callbacks` and `logger` is instantiated, so read.

    Returns:
        One warning per unread key (strict: false).

    Raises:
        AvseqError: the first bad value, or the unread keys under `strict: true`.
    """
    reference = OmegaConf.to_container(load_config(group_choices(overrides)), resolve=False)
    walk = _Walk(cfg)
    walk.node(OmegaConf.to_container(cfg, resolve=False), reference, "")
    for key, minimum in AT_LEAST.items():
        value = OmegaConf.select(cfg, key, default=None)
        if value is not None and (not isinstance(value, int) or value < minimum):
            raise AvseqError(f"{key}={value!r}: must be a whole number >= {minimum}")
    _check_optimizer(cfg)
    if walk.unread and cfg.get("strict"):
        raise AvseqError(f"{'; '.join(walk.unread)} (strict=true: fix or remove them)")
    return walk.unread


def group_choices(overrides: Sequence[str]) -> list[str]:
    """The overrides that choose a config group (`experiment=video`, `data=manifests`)."""
    root = config_dir()
    return [o for o in overrides if "=" in o and (root / o.split("=", 1)[0].lstrip("+")).is_dir()]


class _Walk:
    """One pass over a config tree, collecting the unread keys and checking value types."""

    def __init__(self, cfg: DictConfig) -> None:
        self.cfg = cfg
        self.unread: list[str] = []

    def node(self, node: Any, reference: Any, path: str) -> None:
        if isinstance(node, list):
            for i, item in enumerate(node):
                self.node(item, None, f"{path}[{i}]")
            return
        if not isinstance(node, dict):
            return
        if isinstance(node.get("_target_"), str):
            self.target(node, reference, path)
            return
        reference = reference if isinstance(reference, dict) else None
        for key, child in node.items():
            where = f"{path}.{key}" if path else str(key)
            if path in COLLECTIONS and not (
                child is None or (isinstance(child, dict) and "_target_" in child)
            ):
                raise AvseqError(
                    f"config key {where}: an entry here needs a _target_ (or null: none)"
                )
            if path in COLLECTIONS or reference is None or key in reference:
                self.node(child, reference.get(key) if reference else None, where)
            else:
                self.report(where, child, [f"{path}.{k}" if path else k for k in reference])

    def target(self, node: dict, reference: Any, path: str) -> None:
        params = _parameters(node["_target_"])
        if params is None:  # not importable: instantiate() names it when it runs
            return
        open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        reference = reference if isinstance(reference, dict) else {}
        for key, child in node.items():
            where = f"{path}.{key}" if path else str(key)
            if key in HYDRA_KEYS:
                continue
            if key not in params and not open_ended:  # instantiate() would fail on it
                hint = _closest(where, [f"{path}.{k}" for k in params])
                raise AvseqError(f"config key {where}: {node['_target_']} takes no {key} ({hint})")
            if key in params:
                self.check_type(where, params[key].annotation, node["_target_"], child)
            self.node(child, reference.get(key), where)

    def check_type(self, where: str, annotation: Any, target: str, raw: Any) -> None:
        try:
            value = OmegaConf.select(self.cfg, where, throw_on_missing=False)
        except OmegaConfBaseException:  # an interpolation that fails: instantiate() says so
            return
        expected = _expected(annotation, value)
        if expected:
            source = f" (from {raw})" if isinstance(raw, str) and raw.startswith("${") else ""
            raise AvseqError(f"{where}={value!r}{source}: {target} expects {expected}")

    def report(self, where: str, value: Any, known: list[str]) -> None:
        leaves = ", ".join(_leaves(value, where))
        self.unread.append(
            f"config key {leaves}: nothing in this run reads it ({_closest(where, known)})"
        )


def _closest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    return f"did you mean {close[0]}?" if close else "no similar key exists"


def _parameters(target: str) -> dict[str, inspect.Parameter] | None:
    try:
        obj = _locate(target)
    except Exception:  # any import failure: instantiate() reports it
        return None
    for eval_str in (True, False):  # string annotations naming imports made for typing only
        try:
            return dict(inspect.signature(obj, eval_str=eval_str).parameters)
        except (NameError, TypeError, ValueError, AttributeError):
            continue
    return None


_SIMPLE = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _expected(annotation: Any, value: Any) -> str | None:
    """What `annotation` takes, when `value` is not of it; None when it is or cannot be told
    (only plain scalars, null and literal choices are checked)."""
    containers = (dict, list, DictConfig, ListConfig)
    if value is None or isinstance(value, containers) or annotation is inspect.Parameter.empty:
        return None
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    members = typing.get_args(annotation) if union else (annotation,)
    names: list[str] = []
    for member in members:
        if typing.get_origin(member) is typing.Literal:
            if value in typing.get_args(member):
                return None
            names += [repr(v) for v in typing.get_args(member)]
        elif member is type(None):
            names.append("null")
        elif member in _SIMPLE:
            exact = type(value) is member or (member is float and type(value) is int)
            if exact:
                return None
            names.append(_SIMPLE[member])
        else:  # a class or container: instantiate() and the constructor judge it
            return None
    return " or ".join(dict.fromkeys(names))


def _leaves(value: Any, where: str) -> list[str]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, f"{where}.{k}")]
    return [where]


def _check_optimizer(cfg: DictConfig) -> None:
    """Builds the optimizer on one dummy parameter, so a bad setting (lr=-1) fails now with
    its config key rather than when training starts."""
    spec = OmegaConf.select(cfg, "model.optimizer", default=None)
    if not isinstance(spec, DictConfig) or "_target_" not in spec:
        return
    import torch
    from hydra.utils import instantiate

    try:
        instantiate(spec)([torch.nn.Parameter(torch.zeros(1))])
    except (HydraException, OmegaConfBaseException, TypeError, ValueError) as err:
        cause = err.__cause__ or err
        raise AvseqError(f"model.optimizer: {_first_line(cause)}") from None


def _first_line(err: BaseException) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]
