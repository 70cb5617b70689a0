"""Training configs: TOML files (packaged `cpu` and `gpu`, or a path) read into typed sections,
overridden from the command line. A key the code does not read is an error (file:key), not a
silently ignored setting."""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

from harness.errors import IfirError
from harness.fileio import read_text


@dataclass(frozen=True)
class ModelConfig:
    base: str = "minilm"
    """`minilm` (bundled), a folder or a hub id."""
    max_seq_length: int = 256
    """Tokens per text at evaluation: the saved model keeps this."""
    trust_remote_code: bool = False


LOSSES = ("pair-aware", "mnrl")


@dataclass(frozen=True)
class TrainingConfig:
    per_device_train_batch_size: int = 16
    mini_batch_size: int = 8
    learning_rate: float = 3e-5
    num_train_epochs: float = 1.0
    warmup_ratio: float = 0.0
    """Share of the optimizer steps spent warming up; converted to a step count here."""
    weight_decay: float = 0.0
    scale: float = 20.0
    bf16: bool = False
    gradient_checkpointing: bool = False
    save_steps: int = 500
    save_total_limit: int = 2
    logging_steps: int = 10
    dataloader_num_workers: int = 0
    max_seq_length: int = 0
    """Tokens per text while training (0: the model's `max_seq_length`); shorter trains faster."""
    general_fraction: float = 0.0
    """Share of every budget given to instruction-free rows (the query alone prefers the positive),
    the same for every mix, so budgets stay matched; 0 trains on the mix alone."""
    loss: Literal[LOSSES] = "pair-aware"
    """`pair-aware`: GradCache InfoNCE that masks the other view's copies of a row's own documents;
    `mnrl`: sentence-transformers' CachedMultipleNegativesRankingLoss unmasked (the ablation)."""


@dataclass(frozen=True)
class SynthesisConfig:
    backend: str = "llm"
    """`llm` (the paper's method), `rules` (checkable constraints from attribute detectors, no LLM)
    or `contrast` (key phrases, no LLM; the earlier offline backend, kept as a control)."""
    constraint_types: tuple[str, ...] = ()
    """Attribute types the detectors may write constraints on (`dualview_trainer.constraints`); empty: all."""
    detect_tokens: int = 0
    """Detectors read this many tokens of each document (0: the training `max_seq_length`)."""
    llm: str = "smollm2"
    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 48
    doc_words: int = 60
    judge: bool = True
    judge_views: tuple[str, ...] = ("original", "complement")
    swap_check: bool = True
    min_words: int = 3
    max_words: int = 60
    llm_batch_size: int = 8
    max_candidates_factor: int = 4
    contrast_window_words: int = 80


@dataclass(frozen=True)
class MiningConfig:
    miner: str = "bm25"
    model: str = "minilm"
    depth: int = 20
    """Hard negatives come from the miner's top `depth` unjudged documents."""
    negatives_per_query: int = 1
    """Instruction negatives kept per (query, positive): each makes its own example."""
    min_shared_terms: int = 2
    """A negative must share this many content terms with the query (fewer if the query has fewer)."""
    min_score_ratio: float = 0.5
    """... and score at least this share of the best judged positive's retrieval score."""


@dataclass(frozen=True)
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    synthesis: SynthesisConfig = field(default_factory=SynthesisConfig)
    mining: MiningConfig = field(default_factory=MiningConfig)
    file: str = ""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


SECTIONS = {f.name: f.type for f in dataclasses.fields(Config) if f.name != "file"}
_SECTION_TYPES = get_type_hints(Config)


def _coerce(value: Any, kind: Any, where: str) -> Any:
    """`value` as the field's type; ints are accepted for floats, lists for tuples."""
    if get_origin(kind) is Literal:
        if value not in get_args(kind):
            raise IfirError(f"{where}: expected one of {', '.join(map(str, get_args(kind)))}, got {value!r}.")
        return value
    if kind is bool:
        ok = isinstance(value, bool)
    elif kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif kind is str:
        ok = isinstance(value, str)
    else:  # tuple[str, ...]
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        value = tuple(value) if ok else value
    if not ok:
        name = getattr(kind, "__name__", "list of strings")
        raise IfirError(f"{where}: expected {name}, got {value!r}.")
    return value


def _section(cls, values: dict, origin: str, section: str):
    hints = get_type_hints(cls)
    unknown = sorted(set(values) - set(hints))
    if unknown:
        raise IfirError(f"{origin}: [{section}] {unknown[0]}: unknown key (known: {', '.join(hints)}).")
    return cls(**{k: _coerce(v, hints[k], f"{origin}: [{section}] {k}") for k, v in values.items()})


def _read(name_or_path: str) -> tuple[str, str]:
    p = Path(name_or_path).expanduser()
    if p.is_file():
        return read_text(p), str(p)
    res = resources.files("dualview_trainer").joinpath("configs", f"{name_or_path}.toml")
    if not res.is_file():
        names = sorted(f.name.removesuffix(".toml") for f in resources.files("dualview_trainer").joinpath("configs").iterdir() if f.name.endswith(".toml"))
        raise IfirError(f"Unknown --config '{name_or_path}': use {', '.join(names)} or a .toml file.")
    return res.read_text(encoding="utf-8"), f"{name_or_path}.toml"


def load_config(name_or_path: str, overrides: dict | None = None) -> Config:
    """The resolved config: file values, then `overrides` ({"section.key": value}, None ignored);
    `file` records where it came from. Unknown sections or keys, and values of the wrong type,
    are errors naming the file and the key."""
    text, origin = _read(name_or_path)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise IfirError(f"{origin}: not valid TOML ({e}).") from None
    for name, value in raw.items():
        if name not in SECTIONS or not isinstance(value, dict):
            raise IfirError(f"{origin}: {name}: unknown section (known: {', '.join(SECTIONS)}).")
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, name = key.partition(".")
        if section not in SECTIONS:
            raise IfirError(f"override {key}: unknown section.")
        raw.setdefault(section, {})[name] = value
    sections = {name: _section(_SECTION_TYPES[name], raw.get(name, {}), origin, name) for name in SECTIONS}
    return Config(**sections, file=origin)
