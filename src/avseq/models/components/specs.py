"""`_target_` configs of networks and their parts, both ways: from the partial constructors a
task builds its network with (Hydra's `_partial_: true`) to a plain spec a checkpoint stores,
and from a stored spec back to the network.

A stored spec is untrusted input: every `_target_` in it must be one of COMPONENTS (avseq's own
builders and parts), checked before anything is built; nothing is imported or called by name.
Hydra semantics otherwise: `_partial_: true` gives a partial, keyword arguments only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from torch import nn

from avseq.errors import AvseqError
from avseq.features.audio import LogMel, SpecAugment
from avseq.features.frames import FrameEncoder
from avseq.models.components.attention import AttentionPoolingClassifier
from avseq.models.components.attention_decoder import AttentionDecoder
from avseq.models.components.ctc_head import CTCHead
from avseq.models.components.frame_predictor import FramePredictor
from avseq.models.components.keyword import build_keyword_classifier
from avseq.models.components.lm import RNNLanguageModel
from avseq.models.components.recognizer import build_recognizer
from avseq.models.components.rnn_encoder import RNNEncoder
from avseq.models.components.subsampling import Conv2dSubsampler
from avseq.models.components.video_encoder import build_video_model


def target_name(obj: Callable[..., Any]) -> str:
    """The `_target_` string of a class or function: module and qualified name."""
    return f"{obj.__module__}.{obj.__qualname__}"


# the only callables a stored spec may name: a new part must be added here to be loadable
COMPONENTS: dict[str, Callable[..., Any]] = {
    target_name(obj): obj
    for obj in (
        build_recognizer,
        build_video_model,
        build_keyword_classifier,
        FramePredictor,
        RNNLanguageModel,
        LogMel,
        SpecAugment,
        Conv2dSubsampler,
        RNNEncoder,
        CTCHead,
        AttentionDecoder,
        FrameEncoder,
        AttentionPoolingClassifier,
    )
}
_SPECIAL = ("_target_", "_partial_")


def part(target: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
    """The `_partial_` spec of one part: `target` with `kwargs`."""
    return {"_target_": target_name(target), "_partial_": True, **kwargs}


def net_spec(factory: Callable[..., nn.Module], **sizes: Any) -> dict[str, Any]:
    """The spec of the network `factory(**sizes)` builds: `factory` is a builder partial (such
    as Hydra's for `_partial_: true`), its parts partials too; they stay `_partial_` specs.

    Raises:
        AvseqError: a part is not one of COMPONENTS (a checkpoint could not rebuild it).
    """
    spec = _part_spec(factory)
    del spec["_partial_"]
    return {**spec, **sizes}


def _part_spec(obj: Callable[..., Any]) -> dict[str, Any]:
    keywords: dict[str, Any] = {}
    while isinstance(obj, functools.partial):  # Hydra's partials may wrap partials
        if obj.args:
            raise AvseqError(f"{obj}: give model parts keyword arguments only (no _args_)")
        keywords = {**obj.keywords, **keywords}
        obj = obj.func
    name = target_name(obj)
    if COMPONENTS.get(name) is not obj:
        raise AvseqError(
            f"{name}: not a model part a checkpoint may name; use an avseq component or add "
            "it to COMPONENTS in avseq/models/components/specs.py"
        )
    args = {k: _part_spec(v) if callable(v) else v for k, v in keywords.items()}
    return part(obj, **args)


def check_spec(spec: Any) -> None:
    """Checks every `_target_` in a stored spec is one of COMPONENTS, calling nothing.

    Raises:
        AvseqError: naming the first other target (or unsupported key) found.
    """
    if isinstance(spec, (list, tuple)):
        for item in spec:
            check_spec(item)
    if not isinstance(spec, dict):
        return
    if "_target_" in spec:
        target = spec["_target_"]
        if not isinstance(target, str) or target not in COMPONENTS:
            raise AvseqError(
                f"it names {str(target)[:80]!r} as a model part, which is not an avseq "
                "component; refusing to build it (the file is not avseq's or was altered)"
            )
        special = sorted(str(k) for k in spec if str(k).startswith("_") and k not in _SPECIAL)
        if special or not isinstance(spec.get("_partial_", False), bool):
            raise AvseqError(
                f"its {target} config has unsupported keys {special or ['_partial_']}; "
                "refusing to build it"
            )
    for value in spec.values():
        check_spec(value)


def build_spec(spec: Any) -> Any:
    """What a stored spec describes (a network, for a record's `net`), after `check_spec`."""
    check_spec(spec)
    return _instantiate(spec)


def _instantiate(spec: Any) -> Any:
    if isinstance(spec, list):
        return [_instantiate(v) for v in spec]
    if not isinstance(spec, dict):
        return spec
    args = {k: _instantiate(v) for k, v in spec.items() if k not in _SPECIAL}
    if "_target_" not in spec:
        return args
    target = COMPONENTS[spec["_target_"]]
    return functools.partial(target, **args) if spec.get("_partial_") else target(**args)
