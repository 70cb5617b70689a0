"""Tasks from Hugging Face dataset repos, read through `datasets` from a pinned snapshot folder.

A hub task is first resolved to a local folder (the hub cache, or a download at the pinned
revision); the same readers then load any folder in that repo's format, which is how the tests
exercise them offline. Layouts:

- `mteb`: mteb v2 retrieval repos (configs `corpus`, `queries`, `default`|`qrels`, and for
  FollowIR `instruction`, `top_ranked`, `qrel_diff`); each config's split is the evaluation
  split if it has one, else its only split.
- `followir-v1`: the older `jhu-clsp/*-instructions` repos (`queries` with `instruction_og` /
  `instruction_changed`, `qrels_og` / `qrels_changed`, `top_ranked` as (qid, pid) rows).
- `nanobeir`: `zeta-alpha-ai/Nano*` (configs `corpus`, `queries`, `qrels`; split `train`; every
  qrels row is relevant).
- `mteb` with a `subset` (mFollowIR, `jhu-clsp/mFollowIR*-parquet-mteb`): the same configs with the
  language appended, `corpus-fas`, `queries-fas`, `instruction-fas`, `default-fas`, `top_ranked-fas`,
  `qrel_diff-fas` (as mteb's `m_follow_ir.py` reads them).
- `bright`: `mteb/BRIGHT` (configs `documents` / `long_documents` with `id`, `content`, and `examples`
  with `id`, `query`, `gold_ids`, `gold_ids_long`, `excluded_ids`; one split per domain).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from harness.data.local import FOLLOWIR_MEASURES, RETRIEVAL_MEASURES, bad_id, check_references, expand_candidates, is_trec_id
from harness.errors import IfirError
from harness.registry import Registry
from harness.types import CHANGED, OG, Document, Qrels, Query, Task


def _configs(folder: str) -> list[str]:
    from datasets import get_dataset_config_names

    return list(get_dataset_config_names(folder))


def _rows(folder: str, config: str, split: str | None = None):
    """Rows of one config: the split asked for if present, else the config's only split."""
    from datasets import get_dataset_split_names, load_dataset

    splits = get_dataset_split_names(folder, config_name=config)
    if split not in splits:
        if len(splits) != 1:
            raise IfirError(f"{folder}: config '{config}' has splits {splits}, none of them '{split}'.")
        split = splits[0]
    return load_dataset(folder, config, split=split)


def _corpus(rows) -> dict[str, Document]:
    corpus = {}
    for r in rows:
        doc_id = str(r["_id"] if "_id" in r else r["id"])
        corpus[doc_id] = Document(doc_id, r.get("text") or "", r.get("title") or "")  # empty ones too, as mteb keeps them
    return corpus


def _qrels(rows, *, binary: bool = False) -> Qrels:
    qrels: Qrels = {}
    for r in rows:
        rel = 1 if binary or "score" not in r else int(r["score"])
        qrels.setdefault(str(r["query-id"]), {})[str(r["corpus-id"])] = rel
    return qrels


def load_mteb(folder: str, *, name: str, split: str, measures: list[str] | None, subset: str | None = None) -> Task:
    configs = _configs(folder)

    def config(base: str) -> str:
        return f"{base}-{subset}" if subset else base

    corpus = _corpus(_rows(folder, config("corpus"), split))
    qrels = _qrels(_rows(folder, config("default") if config("default") in configs else config("qrels"), split))
    queries_config = "query" if "query" in configs else config("queries")
    instructions = (
        {str(r["query-id"]): r["instruction"] or "" for r in _rows(folder, config("instruction"), split)}
        if config("instruction") in configs
        else {}
    )
    queries = {}
    for r in _rows(folder, queries_config, split):
        qid = str(r["_id"] if "_id" in r else r["id"])
        if qid in qrels:
            queries[qid] = Query(qid, r["text"], instructions.get(qid, r.get("instruction") or ""))
    followir = config("qrel_diff") in configs
    candidates = changed = None
    if config("top_ranked") in configs:
        top = _rows(folder, config("top_ranked"), split)
        candidates = expand_candidates({str(r["query-id"]): [str(d) for d in r["corpus-ids"]] for r in top}, queries)
    if followir:
        diff = _rows(folder, config("qrel_diff"), split)
        changed = {str(r["query-id"]): [str(d) for d in r["corpus-ids"]] for r in diff}
    default = FOLLOWIR_MEASURES if followir else RETRIEVAL_MEASURES
    return _finish(name, folder, split, corpus, queries, qrels, measures or default, candidates, changed)


def load_followir_v1(folder: str, *, name: str, split: str, measures: list[str] | None) -> Task:
    corpus = _corpus(_rows(folder, "corpus", split))
    og_qrels = _qrels(_rows(folder, "qrels_og", split))
    changed_qrels = _qrels(_rows(folder, "qrels_changed", split))
    queries, qrels = {}, {}
    for r in _rows(folder, "queries", split):
        qid = str(r["_id"])
        queries[qid + OG] = Query(qid + OG, r["text"], r.get("instruction_og") or "")
        queries[qid + CHANGED] = Query(qid + CHANGED, r["text"], r.get("instruction_changed") or "")
        qrels[qid + OG] = og_qrels.get(qid, {})
        qrels[qid + CHANGED] = changed_qrels.get(qid, {})
    top: dict[str, list[str]] = defaultdict(list)
    for r in _rows(folder, "top_ranked", split):
        top[str(r["qid"])].append(str(r["pid"]))
    candidates = expand_candidates(dict(top), queries)
    # mteb v1's create_qrel_diff: documents whose judgement differs between the two qrels.
    changed = {
        qid: [d for d, rel in og_qrels.get(qid, {}).items() if changed_qrels.get(qid, {}).get(d, 0) != rel]
        for qid in og_qrels
    }
    return _finish(name, folder, split, corpus, queries, qrels, measures or FOLLOWIR_MEASURES, candidates, changed)


def load_nanobeir(folder: str, *, name: str, split: str, measures: list[str] | None) -> Task:
    corpus = _corpus(_rows(folder, "corpus", "train"))
    qrels = _qrels(_rows(folder, "qrels", "train"), binary=True)
    queries = {
        str(r["_id"]): Query(str(r["_id"]), r["text"]) for r in _rows(folder, "queries", "train") if str(r["_id"]) in qrels
    }
    return _finish(name, folder, "train", corpus, queries, qrels, measures or RETRIEVAL_MEASURES, None, None)


def load_bright(folder: str, *, name: str, split: str, measures: list[str] | None, domain: str, long: bool = False) -> Task:
    """One BRIGHT domain, as mteb's `bright_v1_1_retrieval.py` reads it; each query's `excluded_ids`
    (less BRIGHT's "N/A" placeholder) become the task's exclusions instead of mteb's per-query
    candidate lists of the whole corpus minus them, which would hold the corpus once per query."""
    expected = "long" if long else "standard"
    if split != expected:
        raise IfirError(f"{name}: BRIGHT's split here is '{expected}' (the -long tasks read the long documents); "
                        f"split '{split}' does not exist.")
    corpus = {}
    for r in _rows(folder, "long_documents" if long else "documents", domain):
        corpus[str(r["id"])] = Document(str(r["id"]), r["content"] or "")
    queries, qrels, excluded = {}, {}, {}
    for r in _rows(folder, "examples", domain):
        qid = str(r["id"])
        queries[qid] = Query(qid, r["query"])
        qrels[qid] = {str(d): 1 for d in r["gold_ids_long" if long else "gold_ids"]}
        drop = [str(d) for d in (r.get("excluded_ids") or []) if d != "N/A"]
        if drop:
            excluded[qid] = drop
    task = _finish(name, folder, expected, corpus, queries, qrels, measures or RETRIEVAL_MEASURES, None, None)
    task.excluded = excluded or None
    return task


def _finish(name, folder, split, corpus, queries, qrels, measures, candidates, changed) -> Task:
    """The task, its references checked; judged documents that are empty or absent from the corpus
    stay in the qrels (with a warning), as the references score them."""
    if not corpus or not queries:
        raise IfirError(f"{folder}: task '{name}' loaded no {'documents' if not corpus else 'queries'}.")
    bad = next((i for i in (*corpus, *queries) if not is_trec_id(i)), None)
    if bad is not None:
        raise bad_id(bad, f"{folder}: task '{name}'")
    qrels = {q: docs for q, docs in qrels.items() if q in queries}
    task = Task(
        name=name,
        kind="instruction-reranking" if changed is not None else "retrieval",
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        measures=list(measures),
        source=str(folder),
        revision="",
        split=split,
        candidates=candidates,
        changed_docs=changed,
    )
    check_references(task, Path(folder), strict=False)
    return task


LAYOUTS: Registry[Callable[..., Task]] = Registry("layout")
"""The readers by the layout name a `TaskSpec` records."""
LAYOUTS.register("mteb", load_mteb)
LAYOUTS.register("followir-v1", load_followir_v1)
LAYOUTS.register("nanobeir", load_nanobeir)
LAYOUTS.register("bright", load_bright)
