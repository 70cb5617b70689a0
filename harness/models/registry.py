"""Names -> model factories: built-ins, `module:attr` targets and the `ifir_bench.models` entry points.

A spec is one of:
- a registered name, optionally with an argument: `minilm`, `bm25`, `cross-encoder:PATH`;
- a pipeline of specs joined by `>>` (`bm25>>cross-encoder:PATH`): the first retrieves, the next rerank;
- `module:attr`, an importable factory or class;
- a local path or a Hugging Face hub id (`org/name[@revision]`): a sentence-transformers encoder.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from harness.errors import IfirError

ENTRY_POINT_GROUP = "ifir_bench.models"

# Built-ins as lazy targets: nothing heavy is imported until a model is asked for.
BUILTIN: dict[str, str] = {
    "minilm": "harness.models.dense:bundled_minilm",
    "mpnet": "harness.models.dense:mpnet",
    "dense": "harness.models.dense:from_spec",
    "bm25": "baselines.bm25:BM25",
    "cross-encoder": "baselines.cross_encoder:CrossEncoderReranker",
    "llm-reranker": "baselines.llm_reranker:LLMReranker",
}


class Registry:
    """Name -> factory (or lazy "module:attr" string); refuses duplicate names."""

    def __init__(self, group: str):
        self.group = group
        self._targets: dict[str, str | Callable] = {}
        self._entry_points_loaded = False

    def register(self, name: str, target: str | Callable) -> None:
        if name in self._targets:
            raise ValueError(f"'{name}' is already registered in {self.group}.")
        self._targets[name] = target

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=self.group):
            if ep.name not in self._targets:
                self._targets[ep.name] = ep.value

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._targets)

    def __contains__(self, name: str) -> bool:
        self._load_entry_points()
        return name in self._targets

    def get(self, name: str) -> Callable:
        self._load_entry_points()
        target = self._targets[name]
        return import_target(target) if isinstance(target, str) else target


def import_target(target: str) -> Callable:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise IfirError(f"Cannot import '{module_name}' for '{target}': {e}.") from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise IfirError(f"'{module_name}' has no attribute '{attr}'.") from None
    return obj


models = Registry(ENTRY_POINT_GROUP)
for _name, _target in BUILTIN.items():
    models.register(_name, _target)


def _looks_like_hub_id(spec: str) -> bool:
    name = spec.split("@")[0]
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not spec.startswith((".", "/", "~"))


def call_with_options(factory: Callable, *args, **options):
    """Call a factory with the options its signature accepts (plugins need not take them all)."""
    import inspect

    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        return factory(*args)
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        options = {k: v for k, v in options.items() if k in params}
    return factory(*args, **options)


def _is_module_target(spec: str) -> bool:
    name, sep, attr = spec.partition(":")
    if not sep or not attr or "/" in name or Path(spec).exists():
        return False
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def load_model(spec: str, **options):
    """Build a model from a spec (see module doc); options (batch_size, device, rerank_depth, ...)
    go to the factory where its signature takes them."""
    spec = spec.strip()
    if ">>" in spec:
        from harness.pipeline import Pipeline

        stages = [load_model(s, **options) for s in spec.split(">>")]
        return call_with_options(Pipeline, stages, spec=spec, **options)
    name, sep, arg = spec.partition(":")
    if name in models:
        factory = models.get(name)
        return call_with_options(factory, arg, **options) if sep else call_with_options(factory, **options)
    if _is_module_target(spec):
        return call_with_options(import_target(spec), **options)
    if Path(spec).expanduser().exists() or _looks_like_hub_id(spec):
        return call_with_options(models.get("dense"), spec, **options)
    close = difflib.get_close_matches(name, models.names(), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise IfirError(
        f"Unknown model '{spec}': not a registered name ({', '.join(models.names())}), a module:attr, "
        f"an existing path or a hub id (org/name).{hint}"
    )
