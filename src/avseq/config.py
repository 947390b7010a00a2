"""Composing the Hydra configs under `configs/` (the repository's, or $AVSEQ_CONFIG_DIR)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
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
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        first = str(err).strip().splitlines()[0]
        raise AvseqError(f"bad configuration override: {first}") from None
    OmegaConf.set_struct(cfg, False)
    return cfg
