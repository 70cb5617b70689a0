"""Local directories in BEIR layout, and FollowIR directories in mteb's v2 layout (detected)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.errors import IfirError, where
from harness.fileio import read_json, read_jsonl, read_lines, require
from harness.types import CHANGED, OG, Document, Qrels, Query, Task, base_query_id

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
        instruction = obj.get("instruction") or ""
        if not isinstance(instruction, str):
            raise IfirError(f"{where(path, n)}: field 'instruction' should be str, got {type(instruction).__name__}.")
        queries[qid] = Query(qid, text, instruction)
    if not queries:
        raise IfirError(f"{path}: no queries.")
    return queries


_HEADER_NAMES = (
    {"queryid", "qid", "query", "topic", "topicid"},
    {"corpusid", "docid", "documentid", "doc", "did", "pid", "passageid"},
    {"score", "rel", "relevance", "label", "grade", "judgement", "judgment"},
)


def is_qrels_header(cols: list[str]) -> bool:
    """A header row names its columns (`query-id corpus-id score`, `qid docid rel`, ...)."""
    names = ["".join(ch for ch in c.lower() if ch.isalnum()) for c in cols]
    if len(names) == 4:
        names = [names[0], names[2], names[3]]
    return len(names) == 3 and all(name in known for name, known in zip(names, _HEADER_NAMES))


def parse_grade(text: str, path: Path, line: int) -> int:
    """A relevance grade: a whole number (`1`, `-1`, `2.0`); anything else is an error, never rounded."""
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not value.is_integer():  # nan, inf, 0.5, yes
        raise IfirError(f"{where(path, line)}: relevance grade '{text}' is not a whole number (grades are 0, 1, 2, ...).")
    return int(value)


def read_qrels(path: Path) -> Qrels:
    """`query-id corpus-id score` per line (tab-separated, or TREC's `qid iter docid rel` by whitespace);
    an optional first row that names the columns is skipped."""
    qrels: Qrels = {}
    seen_row = False
    for n, line in read_lines(path):
        line = line.strip()  # a trailing tab or space adds no column
        if not line:
            continue
        cols = [c.strip() for c in (line.split("\t") if "\t" in line else line.split())]
        if not seen_row:
            seen_row = True
            if is_qrels_header(cols):
                continue
        if len(cols) == 4:  # TREC qrels: qid iter docid rel
            cols = [cols[0], cols[2], cols[3]]
        if len(cols) != 3:
            raise IfirError(f"{where(path, n)}: expected 3 tab-separated columns (query-id, corpus-id, score), got {len(cols)}.")
        qid, doc_id, score = cols
        rel = parse_grade(score, path, n)
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
        missing = [q for q in queries if not task.candidates.get(q)]
        if missing:
            raise IfirError(f"{origin / 'top_ranked.jsonl'}: no candidates for query '{missing[0]}' ({len(missing)} queries lack them).")
    if task.changed_docs is not None:
        check_followir_pairs(task, origin)


def check_followir_pairs(task: Task, origin: Path) -> None:
    """FollowIR: queries come in -og / -changed pairs, each with an instruction, and at least one pair
    has changed documents (else p-MRR is undefined). Changed documents outside a query's candidates
    can only rank after all of them in both runs: scored as mteb does, with a warning in `task.meta`."""
    queries, queries_file = task.queries, origin / "queries.jsonl"
    for qid in queries:
        if not qid.endswith((OG, CHANGED)):
            raise IfirError(f"{queries_file}: query '{qid}' ends in neither {OG} nor {CHANGED} (FollowIR queries come in pairs).")
        base = base_query_id(qid)
        partner = base + (CHANGED if qid.endswith(OG) else OG)
        if partner not in queries:
            raise IfirError(f"{queries_file}: query '{qid}' has no '{partner}' partner (FollowIR queries come in pairs).")
    lacking = [q for q, v in queries.items() if not v.instruction.strip()]
    if lacking:
        raise IfirError(
            f"{origin / 'instructions.jsonl'}: no instruction for query '{lacking[0]}' ({len(lacking)} of {len(queries)} "
            f"queries lack one); p-MRR compares rankings under two instructions."
        )
    diff_file = origin / "qrel_diff.jsonl"
    for base in task.changed_docs:
        if base + OG not in queries:
            raise IfirError(f"{diff_file}: query '{base}' has no '{base}{OG}' / '{base}{CHANGED}' queries in {queries_file}.")
    if not any(docs for docs in task.changed_docs.values()):
        raise IfirError(f"{diff_file}: no query has changed documents, so p-MRR cannot be computed.")
    if task.candidates is None:
        return
    outside = []
    for base, docs in task.changed_docs.items():
        ranked_in_both = set(task.candidates.get(base + OG, ())) & set(task.candidates.get(base + CHANGED, ()))
        outside += [(base, d) for d in docs if d not in ranked_in_both]
    if outside:
        base, doc = outside[0]
        task.meta.setdefault("warnings", []).append(
            f"{diff_file}: {len(outside)} changed document(s) of {len({b for b, _ in outside})} queries are not among "
            f"the query's candidates (e.g. '{doc}' of '{base}'); they rank after every candidate in both runs and "
            f"move p-MRR toward 0, as in mteb."
        )


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
    if not isinstance(meta, dict):
        raise IfirError(f"{path}: expected a JSON object, got {type(meta).__name__}.")
    for key, kind in (("source", str), ("revision", str), ("name", str), ("measures", list)):
        if key in ("source", "revision") and key not in meta:
            raise IfirError(f"{path}: missing field '{key}' (written by `ifir-bench data export`); re-export the task or delete this file.")
        if key in meta and not isinstance(meta[key], kind):
            raise IfirError(f"{path}: field '{key}' should be {kind.__name__}, got {type(meta[key]).__name__}.")
    return meta


def check_layout(root: Path, split: str) -> Path:
    """The files a local task needs are there (nothing is read); returns the split's qrels file."""
    if not root.is_dir():
        raise IfirError(f"{root}: no such directory.")
    for f in ("corpus.jsonl", "queries.jsonl"):
        if not (root / f).is_file():
            raise IfirError(f"{root} is not a BEIR or FollowIR directory: {f} is missing.")
    qrels_path = root / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        have = sorted(p.stem for p in (root / "qrels").glob("*.tsv")) if (root / "qrels").is_dir() else []
        raise IfirError(f"{qrels_path} is missing (splits here: {', '.join(have) or 'none'}); choose one with --split.")
    if (root / "qrel_diff.jsonl").is_file() and not (root / "top_ranked.jsonl").is_file():
        raise IfirError(f"{root} has qrel_diff.jsonl but no top_ranked.jsonl: a FollowIR directory needs both.")
    return qrels_path


def load_local(path: str | Path, *, split: str = "test", name: str | None = None) -> Task:
    """A BEIR or FollowIR directory; the layout is detected from the files present."""
    root = Path(path)
    qrels_path = check_layout(root, split)
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
        elif not all(q.instruction.strip() for q in queries.values()):
            raise IfirError(
                f"{instr_path} is missing: a FollowIR directory gives each query an instruction there (or in an "
                f"'instruction' field of queries.jsonl); without them p-MRR has nothing to compare."
            )
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
