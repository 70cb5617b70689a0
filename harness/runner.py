"""Run a model on a task, score the run, write the result file. The CLI is a shell over this."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path

from harness.cache import EmbeddingCache, default_cache_dir
from harness.errors import IfirError
from harness.exclusions import exclusion_depth, without_excluded
from harness.metrics import evaluate_measures, p_mrr
from harness.metrics.family import family_scores
from harness.models.protocols import Encoder
from harness.paraphrases import keep_texts_in_memory, paraphrase_block, same_paraphrases
from harness.results import SCHEMA_VERSION, load_result, provenance, result_path, save_result
from harness.search import DenseSearch
from harness.types import CHANGED, OG, Run, Task, base_query_id


def as_searcher(
    model, *, cache_dir: Path | None = None, batch_size: int = 32, show_progress: bool = True, use_cache: bool = True,
    device: str | None = None,
):
    """An object with `retrieve` and/or `rerank`: encoders are wrapped in a cached `DenseSearch`."""
    if hasattr(model, "retrieve") or hasattr(model, "rerank"):
        return model
    if isinstance(model, Encoder):
        key = f"{model.meta.name}@{model.meta.revision}"
        if model.meta.query_prompt or model.meta.doc_prompt:  # prompted vectors never mix with others
            key += "#" + hashlib.sha256(f"{model.meta.query_prompt}\0{model.meta.doc_prompt}".encode()).hexdigest()[:12]
        cache = EmbeddingCache(cache_dir or default_cache_dir(), key) if use_cache else None
        return DenseSearch(model, cache=cache, batch_size=batch_size, device=device, show_progress=show_progress)
    raise IfirError(f"{type(model).__name__} is not a retriever: it needs encode(), retrieve() or rerank() and a meta.")


def produce_run(searcher, task: Task, *, top_k: int = 1000) -> Run:
    """The model's run on the task: full retrieval, or candidate reranking where the task has candidates."""
    queries = {qid: searcher.meta.format_query(q) for qid, q in task.queries.items()}
    if task.candidates is not None:
        if not hasattr(searcher, "rerank"):
            raise IfirError(f"'{searcher.meta.name}' cannot rerank candidates, which task '{task.name}' requires.")
        run = searcher.rerank(task.corpus, queries, {q: task.candidates[q] for q in queries})
        return without_excluded(run, task.excluded)
    if not hasattr(searcher, "retrieve"):
        raise IfirError(
            f"'{searcher.meta.name}' only reranks; give it a first stage for '{task.name}', e.g. --model 'bm25>>{searcher.meta.spec}'."
        )
    run = searcher.retrieve(task.corpus, queries, top_k=top_k + exclusion_depth(task.excluded))
    return without_excluded(run, task.excluded, top_k)


def score(task: Task, run: Run) -> tuple[dict, dict]:
    """(metrics, per-query values). Pure: no I/O.

    FollowIR: p-MRR from the og and changed runs, and each run's measures against its own
    qrels (og run vs og qrels under "og", changed run vs changed qrels under "changed").
    """
    if task.kind != "instruction-reranking":
        metrics, per_query = evaluate_measures(task.qrels, run, task.measures)
        extra, extra_per_query = family_scores(task, run, per_query)
        return extra | metrics, extra_per_query | per_query
    metrics: dict = {}
    per_query: dict = {}
    for part, suffix in (("og", OG), ("changed", CHANGED)):
        qrels = {q: d for q, d in task.qrels.items() if q.endswith(suffix)}
        metrics[part], per_query[part] = evaluate_measures(qrels, {q: r for q, r in run.items() if q.endswith(suffix)}, task.measures)
    og = {base_query_id(q): r for q, r in run.items() if q.endswith(OG)}
    changed = {base_query_id(q): r for q, r in run.items() if q.endswith(CHANGED)}
    metrics["p-MRR"], per_query["p-MRR"] = p_mrr(og, changed, task.changed_docs or {})
    return {"p-MRR": metrics.pop("p-MRR"), **metrics}, {"p-MRR": per_query.pop("p-MRR"), **per_query}


@dataclass
class RunOptions:
    output: Path = Path("results")
    top_k: int = 1000
    batch_size: int = 32
    device: str | None = None
    cache_dir: Path | None = None
    use_cache: bool = True
    overwrite: bool = False
    show_progress: bool = True
    command: str | None = None
    paraphrases: str | None = None  # a packaged set name or a file (harness.paraphrases)


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


def evaluate(model, task: Task, options: RunOptions | None = None) -> tuple[dict, Run]:
    """Run and score one (model, task); returns the result record and the run (nothing written)."""
    options = options or RunOptions()
    searcher = as_searcher(
        model, cache_dir=options.cache_dir, batch_size=options.batch_size, show_progress=options.show_progress, use_cache=options.use_cache,
        device=options.device,
    )
    if options.paraphrases:
        searcher = keep_texts_in_memory(searcher)
    t0 = time.perf_counter()
    run = produce_run(searcher, task, top_k=options.top_k)
    t_run = time.perf_counter() - t0
    metrics, per_query = score(task, run)
    seconds = {"run": round(t_run, 3), "score": round(time.perf_counter() - t0 - t_run, 3)}
    seconds.update({k: round(v, 3) if isinstance(v, float) else v for k, v in getattr(searcher, "timings", {}).items()})
    result = {
        "schema_version": SCHEMA_VERSION,
        "task": task_record(task),
        "model": searcher.meta.to_dict(),
        "metrics": metrics,
        "main_score": metrics[task.main_measure],
        "per_query": per_query,
        "provenance": provenance(options.command, seconds, options.device)
        | {"options": {"top_k": options.top_k, "batch_size": options.batch_size, "device": options.device,
                       "use_cache": options.use_cache}},
    }
    if options.paraphrases:
        result["paraphrases"] = paraphrase_block(searcher, task, options.paraphrases, top_k=options.top_k)
    return result, run


def run_and_save(model, task: Task, options: RunOptions) -> tuple[Path, dict, bool]:
    """(result path, result, whether it was computed now). An existing result is reused unless
    `overwrite`, so an interrupted multi-task run resumes where it stopped."""
    path = result_path(options.output, model.meta.name, model.meta.revision, task.name)
    if path.exists() and not options.overwrite:
        try:
            existing = load_result(path)
            if not options.paraphrases or same_paraphrases(existing, options.paraphrases):
                return path, existing, False
        except IfirError:
            pass  # unreadable, or scored under other paraphrases: compute again
    result, run = evaluate(model, task, options)
    save_result(path, result, run)
    return path, result, True
