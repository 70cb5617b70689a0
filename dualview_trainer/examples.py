"""Training examples (query, instruction, positive, hard negative) from a local JSONL, the hub
(Promptriever's MS MARCO instruction data, InF-IR) or a BEIR directory's training split."""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import IfirError
from harness.fileio import read_jsonl, require
from harness.ranking import ranked

PROMPTRIEVER_REPO = "samaya-ai/msmarco-w-instructions"
INFIR_REPO = "InF-IR/InF-IR"


@dataclass(frozen=True)
class Example:
    """One training example. `instruction` may be empty: the LLM then writes it (BEIR sources)."""

    id: str
    query: str
    instruction: str
    positive: str
    negative: str
    query_id: str = ""
    positive_id: str = ""
    negative_id: str = ""

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


def from_beir(path: Path, *, limit: int, seed: int, miner: str = "bm25", model: str = "minilm", depth: int = 20, task=None) -> list[Example]:
    """Examples from a BEIR directory's *training* split (qrels/train.tsv only; the test split is
    never read): one per training query, the positive a judged-relevant document, the hard negative
    the best-ranked unjudged document in the top `depth` by `miner` (bm25 or dense; a query with
    none there is skipped). Instructions are left empty."""
    from harness.data.local import load_local

    from dualview_trainer.mining import mine

    task = task or load_local(path, split="train")
    qids = sorted(q for q in task.queries if any(r > 0 for r in task.qrels.get(q, {}).values()))
    random.Random(seed).shuffle(qids)
    qids = qids[:limit]
    run = mine(task.corpus, {q: task.queries[q].text for q in qids}, miner=miner, model=model, depth=depth)
    out = []
    for q in qids:
        judged = task.qrels[q]
        pos_id = min(d for d, r in judged.items() if r > 0)
        neg_id = next((d for d in ranked(run.get(q, {})) if d not in judged), None)
        if neg_id is None:
            continue
        pos, neg = task.corpus[pos_id], task.corpus[neg_id]
        out.append(make_example(
            task.queries[q].text, "", doc_text({"title": pos.title, "text": pos.text}), doc_text({"title": neg.title, "text": neg.text}),
            id=f"{q}:{pos_id}:{neg_id}", query_id=q, positive_id=pos_id, negative_id=neg_id,
        ))
    return out


def load_examples(source: str, *, limit: int, seed: int, miner: str = "bm25", model: str = "minilm",
                  depth: int = 20) -> tuple[list[Example], str, list[str]]:
    """(examples, split name, documents for term statistics) from a BEIR dir, a JSONL file or a
    hub dataset id. The documents are the whole corpus of a BEIR dir, else the examples' own."""
    p = Path(source).expanduser()
    if p.is_dir():
        from harness.data.local import load_local

        task = load_local(p, split="train")
        examples = from_beir(p, limit=limit, seed=seed, miner=miner, model=model, depth=depth, task=task)
        return examples, "train", [doc_text({"title": d.title, "text": d.text}) for d in task.corpus.values()]
    if p.is_file():
        examples, split = from_jsonl(p)[:limit], "file"
    elif source in (PROMPTRIEVER_REPO, INFIR_REPO):
        examples, split = from_hub(source, limit=limit, seed=seed), "train"
    else:
        raise IfirError(f"Source '{source}' is not a BEIR directory, a JSONL file or a known hub dataset ({PROMPTRIEVER_REPO}, {INFIR_REPO}).")
    return examples, split, sorted({d for ex in examples for d in (ex.positive, ex.negative)})
