"""Training configs: TOML files (packaged `cpu` and `gpu`, or a path), overridden from the command line."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from pathlib import Path

from harness.errors import IfirError
from harness.fileio import read_text

SECTIONS = ("model", "training", "synthesis", "mining")


def load_config(name_or_path: str, overrides: dict | None = None) -> dict:
    """The resolved config: file values, then `overrides` ({"section.key": value}, None ignored);
    `file` records where it came from."""
    p = Path(name_or_path).expanduser()
    if p.is_file():
        text, origin = read_text(p), str(p)
    else:
        res = resources.files("dualview_trainer").joinpath("configs", f"{name_or_path}.toml")
        if not res.is_file():
            names = sorted(f.name.removesuffix(".toml") for f in resources.files("dualview_trainer").joinpath("configs").iterdir() if f.name.endswith(".toml"))
            raise IfirError(f"Unknown --config '{name_or_path}': use {', '.join(names)} or a .toml file.")
        text, origin = res.read_text(encoding="utf-8"), f"{name_or_path}.toml"
    try:
        cfg = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise IfirError(f"{origin}: not valid TOML ({e}).") from None
    missing = [s for s in SECTIONS if s not in cfg]
    if missing:
        raise IfirError(f"{origin}: missing section(s) {', '.join(missing)}.")
    cfg = copy.deepcopy(cfg)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, name = key.partition(".")
        cfg.setdefault(section, {})[name] = value
    cfg["file"] = origin
    return cfg
