"""The model catalogue (`catalogue.toml`): name, pinned revision, size, prompts and instruction
format of the models IF-IR papers compare, each with the source it was read from."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from harness.errors import IfirError

CATALOGUE_FILE = Path(__file__).with_name("catalogue.toml")
LOADERS = ("sentence-transformers", "promptriever")


@dataclass(frozen=True)
class CatalogueEntry:
    """One model as its authors run it."""

    name: str
    hub_id: str
    revision: str
    params: int
    dim: int
    max_tokens: int
    similarity: str
    query_prompt: str
    doc_prompt: str
    description: str
    reference: str
    source: str
    citation: str
    instruction_template: str = ""
    task_instruction: str = ""
    include_prompt: bool = True
    trust_remote_code: bool = False
    layer_norm: bool = False
    dtype: str = ""
    tokenizer_kwargs: dict = field(default_factory=dict)
    loader: str = "sentence-transformers"
    base_model: str = ""
    base_revision: str = ""
    aliases: tuple[str, ...] = ()


def _entry(name: str, raw: dict) -> CatalogueEntry:
    """Validate one table; the query prompt of an instruction model is its template filled with
    the task instruction."""
    raw = dict(raw)
    where = f"{CATALOGUE_FILE}: [{name}]"
    template = raw.get("instruction_template", "")
    if template:
        if "{instruction}" not in template or "query_prompt" in raw:
            raise IfirError(f"{where}: instruction_template needs '{{instruction}}' and replaces query_prompt.")
        raw["query_prompt"] = template.format(instruction=raw.get("task_instruction", ""))
    if raw.get("loader", LOADERS[0]) not in LOADERS:
        raise IfirError(f"{where}: loader must be one of {', '.join(LOADERS)}.")
    raw["aliases"] = tuple(raw.get("aliases", ()))
    try:
        return CatalogueEntry(name=name, **raw)
    except TypeError as e:
        raise IfirError(f"{where}: {e}.") from None


@cache
def catalogue() -> dict[str, CatalogueEntry]:
    """Catalogue name -> entry, in file order."""
    with open(CATALOGUE_FILE, "rb") as fh:
        try:
            tables = tomllib.load(fh)
        except tomllib.TOMLDecodeError as e:
            raise IfirError(f"{CATALOGUE_FILE}: {e}.") from None
    return {name: _entry(name, raw) for name, raw in tables.items()}


def find(spec: str) -> CatalogueEntry | None:
    """The entry a catalogue name, alias or hub id (`org/name[@revision]`) names, if any."""
    key = spec.split("@")[0].strip().lower()
    for entry in catalogue().values():
        if key in (entry.name.lower(), entry.hub_id.lower(), *(a.lower() for a in entry.aliases)):
            return entry
    return None
