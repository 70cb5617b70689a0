"""Local directories in BEIR layout, and FollowIR directories in mteb's v2 layout (detected)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.errors import IfirError, where
from harness.fileio import read_json, read_jsonl, require
from harness.types import Document, Qrels, Query, Task, base_query_id

EXPORT_META = "ifir_task.json"
FOLLOWIR_FILES = ("top_ranked.jsonl", "qrel_diff.jsonl")
EXCLUDED = "excluded.jsonl"  # {"query-id", "corpus-ids"}: documents never to return for the query
FOLLOWIR_MEASURES = ["AP@1000", "nDCG@5"]
RETRIEVAL_MEASURES = ["nDCG@10", "R@100"]


def is_followir_dir(path: Path) -> bool:
    return all((Path(path) / f).is_file() for f in FOLLOWIR_FILES)


def content_fingerprint(files: list[Path]) -> str:
    """sha256 over the named files' bytes: a local task's revision."""
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(f.name.encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return "sha256:" + h.hexdigest()[:16]


def read_corpus(path: Path) -> dict[str, Document]:
    corpus: dict[str, Document] = {}
    for n, obj in read_jsonl(path):
        doc_id = require(obj, "_id", path, n)
        if doc_id in corpus:
            raise IfirError(f"{where(path, n)}: duplicate document id '{doc_id}'.")
        title = obj.get("title") or ""
        text = obj.get("text") or ""
        if not isinstance(title, str) or not isinstance(text, str):
            raise IfirError(f"{where(path, n)}: 'title' and 'text' must be strings.")
        if not (title.strip() or text.strip()):
            raise IfirError(f"{where(path, n)}: document '{doc_id}' has an empty title and text.")
        corpus[doc_id] = Document(doc_id, text, title)
    if not corpus:
        raise IfirError(f"{path}: no documents.")
    return corpus


def read_queries(path: Path) -> dict[str, Query]:
    queries: dict[str, Query] = {}
    for n, obj in read_jsonl(path):
        qid = require(obj, "_id", path, n)
        text = require(obj, "text", path, n)
        if qid in queries:
            raise IfirError(f"{where(path, n)}: duplicate query id '{qid}'.")
        if not text.strip():
            raise IfirError(f"{where(path, n)}: query '{qid}' has empty text.")
        queries[qid] = Query(qid, text, obj.get("instruction") or "")
    if not queries:
        raise IfirError(f"{path}: no queries.")
    return queries


def read_qrels(path: Path) -> Qrels:
    """query-id, corpus-id, score per line (tab-separated); a header row is optional."""
    qrels: Qrels = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            cols = line.rstrip("\n\r").split("\t")
            if len(cols) == 4:  # TREC qrels: qid iter docid rel
                cols = [cols[0], cols[2], cols[3]]
            if len(cols) != 3:
                raise IfirError(f"{where(path, n)}: expected 3 tab-separated columns (query-id, corpus-id, score), got {len(cols)}.")
            qid, doc_id, score = (c.strip() for c in cols)
            try:
                rel = int(float(score))
            except ValueError:
                if n == 1:
                    continue  # header row
                raise IfirError(f"{where(path, n)}: relevance '{score}' is not a number.") from None
            if doc_id in qrels.get(qid, {}):
                raise IfirError(f"{where(path, n)}: duplicate judgement for query '{qid}', document '{doc_id}'.")
            qrels.setdefault(qid, {})[doc_id] = rel
    if not qrels:
        raise IfirError(f"{path}: no judgements.")
    return qrels


def read_id_lists(path: Path, what: str) -> dict[str, list[str]]:
    """`top_ranked.jsonl` / `qrel_diff.jsonl`: {"query-id", "corpus-ids": [...]} per line."""
    out: dict[str, list[str]] = {}
    for n, obj in read_jsonl(path):
        qid = require(obj, "query-id", path, n)
        ids = require(obj, "corpus-ids", path, n, kind=list)
        if qid in out:
            raise IfirError(f"{where(path, n)}: duplicate {what} for query '{qid}'.")
        out[qid] = [str(i) for i in ids]
    return out


def read_instructions(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, obj in read_jsonl(path):
        out[require(obj, "query-id", path, n)] = require(obj, "instruction", path, n)
    return out


def check_references(task: Task, origin: Path) -> None:
    """Qrels, candidates and changed docs must name known queries and documents."""
    corpus, queries = task.corpus, task.queries
    for qid, docs in task.qrels.items():
        unknown = [d for d in docs if d not in corpus]
        if unknown:
            raise IfirError(f"{origin}: qrels of query '{qid}' name {len(unknown)} document(s) not in the corpus, e.g. '{unknown[0]}'.")
    for name, lists in (("top_ranked.jsonl", task.candidates), ("qrel_diff.jsonl", task.changed_docs)):
        for qid, docs in (lists or {}).items():
            unknown = [d for d in docs if d not in corpus]
            if unknown:
                raise IfirError(f"{origin / name}: query '{qid}' names {len(unknown)} document(s) not in the corpus, e.g. '{unknown[0]}'.")
    if task.candidates is not None:
        missing = [q for q in queries if q not in task.candidates]
        if missing:
            raise IfirError(f"{origin / 'top_ranked.jsonl'}: no candidates for query '{missing[0]}' ({len(missing)} queries lack them).")


def expand_candidates(candidates: dict[str, list[str]], queries: dict[str, Query]) -> dict[str, list[str]]:
    """Each query's candidates; a list keyed by the base id applies to both -og and -changed."""
    out = {}
    for qid in queries:
        key = qid if qid in candidates else base_query_id(qid)
        if key in candidates:
            out[qid] = candidates[key]
    return out


def _exported_meta(root: Path) -> dict:
    """Name, measures and origin that `ifir-bench data export` left beside the data, if any."""
    path = root / EXPORT_META
    if not path.is_file():
        return {}
    meta = read_json(path)
    return meta if isinstance(meta, dict) else {}


def load_local(path: str | Path, *, split: str = "test", name: str | None = None) -> Task:
    """A BEIR or FollowIR directory; the layout is detected from the files present."""
    root = Path(path)
    if not root.is_dir():
        raise IfirError(f"No such task directory: {root}.")
    for f in ("corpus.jsonl", "queries.jsonl"):
        if not (root / f).is_file():
            raise IfirError(f"{root} is not a BEIR or FollowIR directory: {f} is missing.")
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        raise IfirError(f"{qrels_path} is missing (splits here: {', '.join(have) or 'none'}); choose one with --split.")

    corpus = read_corpus(root / "corpus.jsonl")
    queries = read_queries(root / "queries.jsonl")
    qrels = read_qrels(qrels_path)
    files = [root / "corpus.jsonl", root / "queries.jsonl", qrels_path]
    followir = is_followir_dir(root)
    if followir:
        instr_path = root / "instructions.jsonl"
        if instr_path.is_file():
            files.append(instr_path)
            instructions = read_instructions(instr_path)
            queries = {q: Query(q, v.text, instructions.get(q, v.instruction)) for q, v in queries.items()}
        files += [root / f for f in FOLLOWIR_FILES]
        candidates = expand_candidates(read_id_lists(root / "top_ranked.jsonl", "candidates"), queries)
        changed = read_id_lists(root / "qrel_diff.jsonl", "changed documents")
    else:
        # Evaluate only the split's queries (BEIR keeps all splits' queries in one file).
        queries = {q: v for q, v in queries.items() if q in qrels}
        if not queries:
            raise IfirError(f"{qrels_path}: none of its query ids appear in {root / 'queries.jsonl'}.")
        candidates = changed = None
        if (root / "top_ranked.jsonl").is_file():  # a reranking set without changed documents (NevIR)
            files.append(root / "top_ranked.jsonl")
            candidates = read_id_lists(root / "top_ranked.jsonl", "candidates")
    excluded = None
    if (root / EXCLUDED).is_file():
        files.append(root / EXCLUDED)
        excluded = read_id_lists(root / EXCLUDED, "excluded documents")
    unknown_q = [q for q in qrels if q not in queries]
    if unknown_q:
        raise IfirError(f"{qrels_path}: query '{unknown_q[0]}' is not in {root / 'queries.jsonl'} ({len(unknown_q)} unknown).")
    exported = _exported_meta(root)
    task = Task(
        name=name or exported.get("name") or root.name,
        kind="instruction-reranking" if followir else "retrieval",
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        measures=list(exported.get("measures") or (FOLLOWIR_MEASURES if followir else RETRIEVAL_MEASURES)),
        source=str(root.resolve()),
        revision=content_fingerprint(files),
        split=split,
        candidates=candidates,
        changed_docs=changed,
        meta={"exported_from": f"{exported['source']}@{exported['revision']}"} if exported else {},
        family=exported.get("family") or "local",
        excluded=excluded,
        scorer=exported.get("scorer"),
        main=exported.get("main"),
    )
    check_references(task, root)
    return task
