"""Run a model on a task, score the run, write the result file. The CLI is a shell over this.

Options reach every stage through one `RunOptions`; a result file is reused only when its
`identity` (everything that changes its numbers) equals the one asked for.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from harness.errors import IfirError
from harness.metrics import group_means, main_per_query
from harness.metrics.scoring import score
from harness.models.protocols import Encoder, ModelMeta, identity_hash
from harness.paraphrases import load_paraphrases, summarize, with_paraphrase
from harness.pipeline import Pipeline
from harness.ranking import TIE_RULE
from harness.record import SCHEMA_VERSION
from harness.results import load_result, provenance, result_path, save_result
from harness.search import DEFAULT_TOP_K, RunOptions, TimedEncoder, as_searcher, produce_run
from harness.types import Run, Task

DEFAULT_RERANK_DEPTH = 100


def run_warnings(task: Task, run: Run) -> list[str]:
    """What a reader of the numbers must know about the run: judged queries it returned nothing for
    (they score 0 on every measure, as trec_eval -c scores them; kaistAI's InstructIR code would skip
    them and mteb would stop)."""
    judged = [q for q, docs in task.qrels.items() if docs]
    missing = [q for q in judged if not run.get(q)]
    if not missing:
        return []
    return [f"{len(missing)} of {len(judged)} judged queries have no document in the run (e.g. '{missing[0]}'); "
            f"they score 0 on every measure."]


# ---- identity: everything that changes a result's numbers ----------------------------------


def _stages(searcher) -> list:
    return list(searcher.stages) if isinstance(searcher, Pipeline) else [searcher]


def model_identity(searcher) -> dict:
    """Name, revision, prompts, templates, similarity and backend settings of every stage."""
    if isinstance(searcher, Pipeline):
        return {"pipeline": [model_identity(s) for s in searcher.stages], "rerank_depth": searcher.rerank_depth}
    meta = searcher.meta
    identity = meta.vector_identity() | {"query_template": meta.query_template}
    if "similarity" in meta.extra:
        identity["similarity"] = meta.extra["similarity"]
    return identity


def data_fingerprint(task: Task) -> str:
    """The task's data: its revision (a content hash of the files for local tasks, the pinned
    commit for hub tasks) plus a hash of the queries, qrels, candidates and changed documents as
    loaded, so a task narrowed or edited in memory is never taken for the original."""
    h = hashlib.sha256(task.revision.encode())
    for part in (
        sorted((q.id, q.text, q.instruction) for q in task.queries.values()),
        sorted((q, sorted(d.items())) for q, d in task.qrels.items()),
        sorted((task.candidates or {}).items()),
        sorted((task.changed_docs or {}).items()),
        sorted((task.excluded or {}).items()),
        sorted((task.groups or {}).items()),
        len(task.corpus),
    ):
        h.update(json.dumps(part, ensure_ascii=False).encode())
    return f"{task.revision}+{h.hexdigest()[:12]}"


def result_identity(searcher, task: Task, options: RunOptions) -> dict:
    """Everything that changes the numbers of (model, task) under these options (CONTRACTS)."""
    return {"model": model_identity(searcher)} | task_identity(task, options)


def task_part(identity: dict) -> dict:
    """A stored result identity less its model: the `task_identity` that `result_identity` was built from."""
    return {k: v for k, v in identity.items() if k != "model"}


def task_identity(task: Task, options: RunOptions) -> dict:
    """The part of a result's identity that is not the model's: the task's data, measures and
    scorer, the tie rule and the run options that change numbers."""
    identity = {
        "task": {"name": task.name, "kind": task.kind, "data": data_fingerprint(task), "split": task.split,
                 # the family's scorer and main score decide the numbers too (only where a task has them,
                 # so results of tasks without one keep their identity)
                 **({"scorer": task.scorer} if task.scorer else {}), **({"main": task.main} if task.main else {})},
        "measures": list(options.measures or task.measures),
        "tie_rule": TIE_RULE,
    }
    if task.candidates is None:  # full retrieval: the depth changes deep measures
        identity["top_k"] = options.top_k
    if options.paraphrases:
        source, texts = load_paraphrases(options.paraphrases)
        identity["paraphrases"] = {"source": source, "texts": identity_hash({"texts": texts})}
    return identity


def serves(stored: dict, identity: dict) -> bool:
    """Whether a stored result answers a request of `identity`: the same identity, or the same one
    plus paraphrase scores (a superset) when no paraphrases are asked."""
    have = stored.get("identity")
    if not isinstance(have, dict):
        return False
    if "paraphrases" not in identity:
        have = {k: v for k, v in have.items() if k != "paraphrases"}
    return identity_hash(have) == identity_hash(identity)


def default_split(task: Task) -> str:
    from harness.tasks import REGISTRY

    return REGISTRY[task.name].split if task.name in REGISTRY else "test"


def settings_variant(searcher, task: Task, options: RunOptions, own_templates: list[str], default_measures: list[str]) -> dict:
    """The settings that differ from the defaults (model's own template, task's measures and
    split, default top-k and rerank depth): empty for a default run. Names the result file and
    labels ablations on the leaderboard."""
    variant: dict = {}
    stages = _stages(searcher)
    templates = [s.meta.query_template for s in stages]
    if templates != own_templates:
        variant["template"] = templates[0] if len(set(templates)) == 1 else templates
    if list(task.measures) != list(default_measures):
        variant["measures"] = list(task.measures)
    if task.split != default_split(task):
        variant["split"] = task.split
    if task.candidates is None and options.top_k != DEFAULT_TOP_K:
        variant["top_k"] = options.top_k
    if isinstance(searcher, Pipeline) and searcher.rerank_depth != DEFAULT_RERANK_DEPTH:
        variant["rerank_depth"] = searcher.rerank_depth
    variant.update(options.model_overrides or {})
    return variant


@contextmanager
def query_template(searcher, template: str | None) -> Iterator[list[str]]:
    """Apply a `--template` override to every stage for the duration of a run (restored after);
    yields the stages' own templates."""
    stages = _stages(searcher)
    own = [s.meta.query_template for s in stages]
    if template is not None:
        for s in stages:
            s.meta.query_template = template
    try:
        yield own
    finally:
        for s, t in zip(stages, own):
            s.meta.query_template = t


# ---- the result record ----------------------------------------------------------------------


def task_record(task: Task) -> dict:
    record = {
        "name": task.name,
        "kind": task.kind,
        "family": task.family,
        "source": task.source,
        "revision": task.revision,
        "split": task.split,
        "measures": task.measures,
        "main_measure": task.main_measure,
        "n_queries": len(task.queries),
        "n_documents": len(task.corpus),
    }
    if task.meta.get("warnings"):
        record["warnings"] = list(task.meta["warnings"])  # data problems scoring went on despite
    if task.kind == "instruction-reranking":
        record["scored_against"] = {"og": "og qrels (query ids ending -og)", "changed": "changed qrels (-changed)"}
    return record


def _backend(meta: ModelMeta) -> str:
    return meta.extra.get("backend") or {"dense": "torch", "reranker": "torch", "sparse": "lucene"}.get(meta.kind, meta.kind)


def _numbers(timings: dict) -> dict:
    return {k: v for k, v in timings.items() if isinstance(v, (int, float))}


def work_done(stages: list, before: list[dict]) -> list[dict]:
    """Each stage's `timings` counters accrued during this run (a model reused across tasks keeps counting)."""
    return [{k: v - b.get(k, 0) for k, v in _numbers(getattr(s, "timings", {})).items()} for s, b in zip(stages, before)]


def phases(searcher, work: list[dict], t_run: float, t_score: float, task: Task, load_seconds: float | None) -> tuple[dict, dict]:
    """(seconds per phase, throughput) of one run.

    load: building the model, and loading one that loads on first use (in this run);
    encode_documents: embedding documents (dense) or building the index (BM25); encode_queries:
    embedding queries; search: the rest of producing the run (cache reads, scoring, top-k,
    reranking); score: the measures. Throughput counts only work done now (vectors read from the
    cache are not counted); queries/s covers encoding the queries and searching."""
    timers = [s.encoder for s in _stages(searcher) if isinstance(getattr(s, "encoder", None), TimedEncoder)]
    index_s = sum(w.get("index_s", 0.0) for w in work)
    docs_s = sum(t.seconds["document"] for t in timers) + index_s
    queries_s = sum(t.seconds["query"] for t in timers)
    lazy_load_s = sum(t.seconds["load"] for t in timers)
    seconds = {"load": (load_seconds or 0.0) + lazy_load_s} if load_seconds is not None or lazy_load_s else {}
    if timers or index_s:
        seconds["encode_documents"] = docs_s
    if timers:
        seconds["encode_queries"] = queries_s
    seconds["search"] = max(t_run - lazy_load_s - docs_s - queries_s, 0.0)
    seconds["score"] = t_score
    throughput = {}
    n_docs = sum(t.texts["document"] for t in timers) + (len(task.corpus) if any(w.get("indexes_built") for w in work) else 0)
    if n_docs and docs_s > 0:
        throughput["documents_per_s"] = round(n_docs / docs_s, 2)
    query_side = queries_s + seconds["search"]
    if query_side > 0 and (not timers or sum(t.texts["query"] for t in timers)):
        throughput["queries_per_s"] = round(len(task.queries) / query_side, 2)
    return {k: round(v, 3) for k, v in seconds.items()}, throughput


def paraphrase_block(searcher, task: Task, spec: str, *, top_k: int) -> dict:
    """The result's `paraphrases` record: the task's main score under each paraphrase, and its spread."""
    source, texts = load_paraphrases(spec)
    measure = task.main_measure
    values = []
    for text in texts:
        variant = with_paraphrase(task, text)
        metrics, _ = score(variant, produce_run(searcher, variant, top_k=top_k))
        values.append({"paraphrase": text, "value": metrics[measure]})
    return {"source": source, "n": len(values), "measure": measure, "values": values,
            **summarize([v["value"] for v in values])}


def _evaluate(searcher, task: Task, options: RunOptions, identity: dict, variant: dict, load_seconds: float | None) -> tuple[dict, Run]:
    stages = _stages(searcher)
    before = [_numbers(getattr(s, "timings", {})) for s in stages]
    t0 = time.perf_counter()
    run = produce_run(searcher, task, top_k=options.top_k)
    t_run = time.perf_counter() - t0
    metrics, per_query = score(task, run)
    t_score = time.perf_counter() - t0 - t_run
    work = work_done(stages, before)
    seconds, throughput = phases(searcher, work, t_run, t_score, task, load_seconds)
    result = {
        "schema_version": SCHEMA_VERSION,
        "identity": identity,
        "identity_hash": identity_hash(identity),
        "variant": variant,
        "task": task_record(task),
        "model": searcher.meta.to_dict(),
        "metrics": metrics,
        "main_score": metrics[task.main_measure],
        "per_query": per_query,
        **({"breakdown": group_means(main_per_query(task, per_query), task.groups)} if task.groups else {}),
        "provenance": provenance(options.command, seconds, options.device)
        | {
            "throughput": throughput,
            "backend": [_backend(s.meta) for s in _stages(searcher)] if isinstance(searcher, Pipeline) else _backend(searcher.meta),
            "work": work if isinstance(searcher, Pipeline) else work[0],
            "options": {"top_k": options.top_k, "device": options.device, "use_cache": options.use_cache,
                        **_encoding_record(searcher, work, options)},
        },
    }
    if warnings := run_warnings(task, run):
        result["warnings"] = warnings
    if options.paraphrases:
        result["paraphrases"] = paraphrase_block(searcher, task, options.paraphrases, top_k=options.top_k)
    return result, run


def _encoding_record(searcher, work: list[dict], options: RunOptions) -> dict:
    """The batch size, stated only for vectors encoded in this run: vectors read from the cache were
    made by an earlier run (its result file says with which batch size)."""
    timers = [s.encoder for s in _stages(searcher) if isinstance(getattr(s, "encoder", None), TimedEncoder)]
    if not timers:
        return {"batch_size": options.batch_size}
    encoded = sum(sum(t.texts.values()) for t in timers)
    cached = int(sum(w.get("texts_cached", 0) for w in work))
    return {"batch_size": options.batch_size if encoded else None, "texts_encoded": encoded, "texts_from_cache": cached}


@contextmanager
def _prepared(model, task: Task, options: RunOptions):
    """(searcher, task, identity, variant) with the options applied, for the duration of a run."""
    default_measures = list(task.measures)
    if options.measures:
        task = replace(task, measures=list(options.measures))
    searcher = as_searcher(model, options)
    with query_template(searcher, options.template) as own:
        yield searcher, task, result_identity(searcher, task, options), settings_variant(searcher, task, options, own, default_measures)


def encode_part(model, task: Task, options: RunOptions, part: tuple[int, int]) -> list[dict]:
    """Encode part K of N of each text set a run of (model, task) embeds (the documents, the queries)
    into its own piece of the embedding cache; nothing is searched or scored. A later `run` over the
    same cache reads the parts (`EmbeddingCache.read_parts`). Returns one record per text set."""
    if isinstance(model, Pipeline) or not isinstance(model, Encoder):
        raise IfirError(f"--part encodes the vectors of a dense encoder; '{model.meta.spec or model.meta.name}' is not one "
                        f"(a pipeline or a {model.meta.kind} model), so it has nothing to encode ahead of a run.")
    if not options.use_cache:
        raise IfirError("--part writes its vectors into the embedding cache; it cannot be used with --no-cache.")
    searcher = as_searcher(model, options)
    about = {"model": model.meta.spec or model.meta.name, "task": task.name, "command": options.command}
    with query_template(searcher, options.template):
        candidates = None if task.candidates is None else {q: task.candidates[q] for q in task.queries}
        return [searcher.encode_part(texts, kind, *part, about=about) for texts, kind in searcher.text_sets(task.corpus, task.queries, candidates)]


def evaluate(model, task: Task, options: RunOptions | None = None, *, load_seconds: float | None = None) -> tuple[dict, Run]:
    """Run and score one (model, task); returns the result record and the run (nothing written)."""
    options = options or RunOptions()
    with _prepared(model, task, options) as (searcher, task, identity, variant):
        return _evaluate(searcher, task, options, identity, variant, load_seconds)


def _stored(path: Path) -> dict | None:
    """The result file at `path`, or None when there is none or it is unreadable (then it is recomputed)."""
    if not path.exists():
        return None
    try:
        return load_result(path)
    except IfirError:
        return None


def run_and_save(model, task: Task, options: RunOptions, *, load_seconds: float | None = None) -> tuple[Path, dict, str]:
    """(result path, result, status): status is "computed", "reused" (a file with the same identity
    existed) or "replaced" (the file there had another identity: other data or model state of the
    same task). Default settings write `<model>/<revision>/<task>.json`; other settings add a hash of
    them. A result never replaces another task's: where the file holds a task of the same name from
    another source with other data (`a/tiny` and `b/tiny`, a folder and a hub task), this task is
    named `<name>.<hash of its source>`, a name the result records, with a warning. The same data at
    another path (a results folder moved to another machine) is the same task."""
    with _prepared(model, task, options) as (searcher, task, identity, variant):
        settings = identity_hash(variant) if variant else None
        path = result_path(options.output, model.meta.name, model.meta.revision, task.name, settings)
        old, note = _stored(path), None
        moved = old is not None and (old.get("identity") or {}).get("task") == identity["task"]  # same data, other path
        if old is not None and old["task"].get("source", task.source) != task.source and not moved:
            note = (f"another task named '{task.name}' (from {old['task']['source']}) has its result in "
                    f"{path.parent}; this one (from {task.source}) is saved under its own name.")
            task = replace(task, name=f"{task.name}.{hashlib.sha256(task.source.encode()).hexdigest()[:8]}")
            identity = result_identity(searcher, task, options)
            path = result_path(options.output, model.meta.name, model.meta.revision, task.name, settings)
            old = _stored(path)
        if old is not None and serves(old, identity) and not options.overwrite:
            return path, old, "reused"
        status = "replaced" if old is not None and not options.overwrite else "computed"
        result, run = _evaluate(searcher, task, options, identity, variant, load_seconds)
    if note:
        result["warnings"] = [*result.get("warnings", []), note]
    save_result(path, result, run)
    return path, result, status
