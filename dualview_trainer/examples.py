"""Training examples (query, instruction, positive, hard negative) from a local JSONL, the hub
(Promptriever's MS MARCO instruction data, InF-IR) or a BEIR directory's training split."""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from harness.errors import IfirError
from harness.fileio import read_jsonl, require
from harness.ranking import ranked

PROMPTRIEVER_REPO = "samaya-ai/msmarco-w-instructions"
INFIR_REPO = "InF-IR/InF-IR"
POSITIVE_DEPTH = 1000
"""How deep the miner ranks, so that a judged positive's score (its neighbourhood) is known."""


@dataclass(frozen=True)
class Example:
    """One training example. `instruction` may be empty: the synthesizer then writes it (BEIR
    sources). `negative_check` records why the hard negative counts as matching the query."""

    id: str
    query: str
    instruction: str
    positive: str
    negative: str
    query_id: str = ""
    positive_id: str = ""
    negative_id: str = ""
    negative_check: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def stable_id(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def doc_text(doc) -> str:
    """A document given as a string or as {"title", "text"}: joined as the harness does ("{title} {text}")."""
    if isinstance(doc, str):
        return doc.strip()
    if isinstance(doc, dict):
        return f"{doc.get('title') or ''} {doc.get('text') or ''}".strip()
    return ""


def make_example(query: str, instruction: str, positive: str, negative: str, *, id: str = "", **ids) -> Example:
    return Example(id or stable_id(query, instruction, positive, negative), query, instruction, positive, negative, **ids)


def from_jsonl(path: Path) -> list[Example]:
    """{"query", "positive", "negative", optional "instruction", "id"}; documents as text or {"title", "text"}."""
    out: list[Example] = []
    seen: set[str] = set()
    for n, obj in read_jsonl(path):
        query = require(obj, "query", path, n)
        pos, neg = doc_text(obj.get("positive")), doc_text(obj.get("negative"))
        if not pos or not neg:
            raise IfirError(f"{path}:{n}: 'positive' and 'negative' must be non-empty documents.")
        ex = make_example(query, str(obj.get("instruction") or ""), pos, neg, id=str(obj.get("id") or ""))
        if ex.id in seen:
            raise IfirError(f"{path}:{n}: duplicate example id '{ex.id}'.")
        seen.add(ex.id)
        out.append(ex)
    if not out:
        raise IfirError(f"{path}: no examples.")
    return out


def from_promptriever_row(row: dict) -> Example | None:
    """A row of samaya-ai/msmarco-w-instructions: only_query, only_instruction, positive_passages,
    negative_passages (the instruction negatives); rows without an instruction are skipped."""
    if not row.get("has_instruction", True) or not row.get("only_instruction"):
        return None
    pos, neg = row.get("positive_passages") or [], row.get("negative_passages") or []
    if not pos or not neg:
        return None
    return make_example(
        row.get("only_query") or row["query"], row["only_instruction"], doc_text(pos[0]), doc_text(neg[0]),
        query_id=str(row.get("query_id", "")), positive_id=str(pos[0].get("docid", "")), negative_id=str(neg[0].get("docid", "")),
    )


def from_infir_row(row: dict) -> Example | None:
    """A row of InF-IR: query_positive, instruction_positive, document_positive, hard_negative_document_1."""
    keys = ("query_positive", "instruction_positive", "document_positive", "hard_negative_document_1")
    if not all(row.get(k) for k in keys):
        return None
    return make_example(*(str(row[k]) for k in keys))


def from_hub(repo: str, *, limit: int, seed: int) -> list[Example]:
    """The first `limit` usable rows of a hub dataset (streamed: the full sets are several GB)."""
    from harness.hub import hub_offline, hub_reachable

    convert = {PROMPTRIEVER_REPO: from_promptriever_row, INFIR_REPO: from_infir_row}.get(repo)
    if convert is None:
        raise IfirError(f"Unknown hub source '{repo}': use {PROMPTRIEVER_REPO}, {INFIR_REPO}, a BEIR directory or a JSONL file.")
    if not hub_reachable():
        why = "the hub is offline (HF_HUB_OFFLINE=1)" if hub_offline() else "the Hugging Face hub cannot be reached"
        raise IfirError(f"Dataset '{repo}' needs the hub and {why}: use a BEIR directory (e.g. ../shared/data/scifact) or a JSONL file.")
    import datasets

    stream = datasets.load_dataset(repo, split="train", streaming=True).shuffle(seed=seed, buffer_size=10_000)
    out = []
    for row in stream:
        ex = convert(row)
        if ex is not None:
            out.append(ex)
        if len(out) >= limit:
            break
    return out


def from_beir(path: Path, *, limit: int, seed: int, miner: str = "bm25", model: str = "minilm", depth: int = 20, task=None,
              negatives_per_query: int = 1, min_shared_terms: int = 2, min_score_ratio: float = 0.5) -> list[Example]:
    """Examples from a BEIR directory's *training* split (qrels/train.tsv only; the test split is
    never read), in query order drawn from `seed`: for each training query, each judged-relevant
    document as positive against up to `negatives_per_query` *instruction negatives*: unjudged
    documents in the miner's top `depth` that match the query (`query_match`: enough shared content
    terms, and a retrieval score at least `min_score_ratio` of the best positive's). Stops after
    `limit` examples; a query with no matching negative is skipped. Where no positive scores at
    all (none shares a term with the query), only the shared terms decide. Instructions are left empty."""
    from harness.data.local import load_local

    from dualview_trainer.mining import ContentTerms, mine

    task = task or load_local(path, split="train")
    qids = sorted(q for q in task.queries if any(r > 0 for r in task.qrels.get(q, {}).values()))
    random.Random(seed).shuffle(qids)
    # Mined deep enough to know the positives' scores; negatives come from the top `depth`.
    run = mine(task.corpus, {q: task.queries[q].text for q in qids}, miner=miner, model=model, depth=max(depth, POSITIVE_DEPTH))
    terms = ContentTerms()
    out = []
    for q in qids:
        judged, scores = task.qrels[q], run.get(q, {})
        positives = sorted(d for d, r in judged.items() if r > 0)
        best = max(scores.get(d, 0.0) for d in positives)
        negatives = []
        for rank, d in enumerate(ranked(scores)[:depth], start=1):
            if d in judged:
                continue
            check = query_match(terms, task.queries[q].text, _text(task.corpus[d]), scores[d], best, rank=rank,
                                min_shared_terms=min_shared_terms, min_score_ratio=min_score_ratio)
            if check["passed"]:
                negatives.append((d, check))
            if len(negatives) == negatives_per_query:
                break
        for pos_id in positives:
            for neg_id, check in negatives:
                out.append(make_example(
                    task.queries[q].text, "", _text(task.corpus[pos_id]), _text(task.corpus[neg_id]),
                    id=f"{q}:{pos_id}:{neg_id}", query_id=q, positive_id=pos_id, negative_id=neg_id, negative_check=check,
                ))
        if len(out) >= limit:
            break
    return out[:limit]


def _text(doc) -> str:
    return doc_text({"title": doc.title, "text": doc.text})


def query_match(terms, query: str, document: str, score: float | None, best_positive: float | None, *, rank: int | None = None,
                min_shared_terms: int = 2, min_score_ratio: float = 0.5) -> dict:
    """Whether a hard negative matches the query, as recorded per example: it shares at least
    `min_shared_terms` content terms (stems, stop words left out; fewer if the query has fewer) with
    the query, and, where the miner scored it, its score is at least `min_score_ratio` of the best
    judged positive's (it sits in the positives' neighbourhood of the ranking)."""
    q_terms = terms.of(query)
    shared = sorted(q_terms & terms.of(document))
    need = min(min_shared_terms, len(q_terms))
    ratio = round(score / best_positive, 4) if score is not None and best_positive else None
    passed = len(shared) >= need and (ratio is None or ratio >= min_score_ratio)
    return {"passed": passed, "shared_terms": shared, "score_ratio": ratio, "rank": rank,
            "positive_score": round(best_positive, 4) if best_positive is not None else None}


def load_examples(source: str, *, limit: int, seed: int, mining=None) -> tuple[list[Example], str, list[str]]:
    """(examples, split name, documents for term statistics) from a BEIR dir, a JSONL file or a
    hub dataset id, settings from `mining` (a `MiningConfig`). The documents are the whole corpus of
    a BEIR dir, else the examples' own. Examples from a file or the hub whose negative shares too
    few content terms with the query are left out (their `negative_check` says why)."""
    from dualview_trainer.config import MiningConfig
    from dualview_trainer.mining import ContentTerms

    m = mining or MiningConfig()
    p = Path(source).expanduser()
    if p.is_dir():
        from harness.data.local import load_local

        task = load_local(p, split="train")
        examples = from_beir(p, limit=limit, seed=seed, miner=m.miner, model=m.model, depth=m.depth, task=task,
                             negatives_per_query=m.negatives_per_query, min_shared_terms=m.min_shared_terms,
                             min_score_ratio=m.min_score_ratio)
        return examples, "train", [doc_text({"title": d.title, "text": d.text}) for d in task.corpus.values()]
    if p.is_file():
        examples, split = from_jsonl(p), "file"
    elif source in (PROMPTRIEVER_REPO, INFIR_REPO):
        examples, split = from_hub(source, limit=limit, seed=seed), "train"
    else:
        raise IfirError(f"Source '{source}' is not a BEIR directory, a JSONL file or a known hub dataset ({PROMPTRIEVER_REPO}, {INFIR_REPO}).")
    terms = ContentTerms()
    checked = [replace(ex, negative_check=query_match(terms, ex.query, ex.negative, None, None, min_shared_terms=m.min_shared_terms))
               for ex in examples]
    examples = [ex for ex in checked if ex.negative_check["passed"]][:limit]
    if checked and not examples:
        raise IfirError(f"{source}: no example's negative matches its query (at least {m.min_shared_terms} shared content terms): "
                        "a hard negative must be about the query and violate the instruction (mining.min_shared_terms sets the bar).")
    return examples, split, sorted({d for ex in examples for d in (ex.positive, ex.negative)})
