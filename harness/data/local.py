"""Local directories in BEIR layout, and FollowIR directories in mteb's v2 layout (detected)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.errors import IfirError, where
from harness.fileio import read_json, read_jsonl, read_lines, require
from harness.families import family
from harness.metrics.family import scorer_named
from harness.types import CHANGED, OG, Document, Qrels, Query, Task, base_query_id

EXPORT_META = "ifir_task.json"
FOLLOWIR_FILES = ("top_ranked.jsonl", "qrel_diff.jsonl")
EXCLUDED = "excluded.jsonl"  # {"query-id", "corpus-ids"}: documents never to return for the query
GROUPS = "groups.jsonl"  # {"id", "group"}: a label per key of the main measure's per-query values, for a breakdown
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


def is_trec_id(value: str) -> bool:
    """Whether an id can stand in a TREC run or qrels line: not empty, no whitespace (the separator)."""
    return bool(value) and not any(ch.isspace() for ch in value)


def bad_id(value: str, where_: str) -> IfirError:
    return IfirError(f"{where_}: id {value!r} is empty or holds whitespace, which TREC run files cannot carry "
                     f"(whitespace separates their fields).")


def read_id(obj: dict, key: str, path: Path, line: int) -> str:
    value = require(obj, key, path, line)
    if not is_trec_id(value):
        raise bad_id(value, where(path, line))
    return value


def read_corpus(path: Path, *, allow_empty: bool = False) -> dict[str, Document]:
    """Documents by id; one with an empty title and text is refused (a misnamed field, often) unless
    `allow_empty` (an export of hub data, which keeps the reference's empty documents)."""
    corpus: dict[str, Document] = {}
    for n, obj in read_jsonl(path):
        doc_id = read_id(obj, "_id", path, n)
        if doc_id in corpus:
            raise IfirError(f"{where(path, n)}: duplicate document id '{doc_id}'.")
        title = obj.get("title") or ""
        text = obj.get("text") or ""
        if not isinstance(title, str) or not isinstance(text, str):
            raise IfirError(f"{where(path, n)}: 'title' and 'text' must be strings.")
        if not (title.strip() or text.strip() or allow_empty):
            raise IfirError(f"{where(path, n)}: document '{doc_id}' has an empty title and text.")
        corpus[doc_id] = Document(doc_id, text, title)
    if not corpus:
        raise IfirError(f"{path}: no documents.")
    return corpus


def read_queries(path: Path) -> dict[str, Query]:
    queries: dict[str, Query] = {}
    for n, obj in read_jsonl(path):
        qid = read_id(obj, "_id", path, n)
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


def header_columns(cols: list[str]) -> tuple[int, int, int] | None:
    """The positions of (query, document, grade) named by a header row (`query-id corpus-id score`,
    BEIR's, any further columns such as a note left aside; TREC's `qid iter docid rel`), or None
    when the row names no columns (it is data)."""
    names = ["".join(ch for ch in c.lower() if ch.isalnum()) for c in cols]
    for positions in ((0, 1, 2), (0, 2, 3)):
        if len(names) > positions[-1] and all(names[i] in known for i, known in zip(positions, _HEADER_NAMES)):
            return positions
    return None


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
    header: tuple[int, int, int] | None = None
    width = 0
    for n, line in read_lines(path):
        line = line.strip()  # a trailing tab or space adds no column
        if not line:
            continue
        cols = [c.strip() for c in (line.split("\t") if "\t" in line else line.split())]
        if not seen_row:
            seen_row = True
            header = header_columns(cols)
            if header:
                width = len(cols)
                continue
        if header and len(cols) > header[-1]:  # the columns its header names (an empty last one is stripped)
            cols = [cols[i] for i in header]
        elif not header and len(cols) == 4:  # TREC qrels: qid iter docid rel
            cols = [cols[0], cols[2], cols[3]]
        if len(cols) != 3:
            expected = f"{width} columns, as its header names" if header and width != 3 else "3 tab-separated columns (query-id, corpus-id, score)"
            raise IfirError(f"{where(path, n)}: expected {expected}, got {len(cols)}.")
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


def read_groups(path: Path) -> dict[str, str]:
    """`groups.jsonl`: {"id": a per-query key of the main measure, "group": its label} per line."""
    out: dict[str, str] = {}
    for n, obj in read_jsonl(path):
        key = require(obj, "id", path, n)
        if key in out:
            raise IfirError(f"{where(path, n)}: duplicate id '{key}'.")
        out[key] = require(obj, "group", path, n)
    return out


def read_instructions(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for n, obj in read_jsonl(path):
        out[require(obj, "query-id", path, n)] = require(obj, "instruction", path, n)
    return out


def check_references(task: Task, origin: Path, *, strict: bool = True) -> None:
    """Candidates and changed docs must name known queries and documents; so must qrels when
    `strict` (a folder made by hand, where an unknown id is a mistake). Otherwise (hub data and
    its exports) judged documents that are empty or absent from the corpus stay in the qrels, as
    mteb, BRIGHT and pytrec_eval count them, with a warning in `task.meta`; so does a judged query
    without any relevant document."""
    corpus, queries = task.corpus, task.queries
    warnings = []
    judged = {d for docs in task.qrels.values() for d in docs}
    absent = sorted(d for d in judged if d not in corpus)
    if absent and strict:
        qid, doc = next((q, d) for q, docs in task.qrels.items() for d in docs if d not in corpus)
        n = sum(d not in corpus for d in task.qrels[qid])
        raise IfirError(f"{origin}: qrels of query '{qid}' name {n} document(s) not in the corpus, e.g. '{doc}'.")
    empty = sorted(d for d in judged if d in corpus and not (corpus[d].text.strip() or corpus[d].title.strip()))
    if absent or empty:
        warnings.append(f"{origin}: {len(empty)} judged document(s) are empty and {len(absent)} are not in the corpus "
                        f"(e.g. '{(empty or absent)[0]}'); they stay in the qrels, as mteb, BRIGHT and pytrec_eval count them "
                        f"(an empty document can still be retrieved, an absent one never is).")
    unrelevant = [q for q, docs in task.qrels.items() if docs and max(docs.values()) <= 0]
    if unrelevant:
        warnings.append(f"{origin}: {len(unrelevant)} of {sum(bool(d) for d in task.qrels.values())} judged queries have no "
                        f"relevant document (every grade 0 or less; e.g. '{unrelevant[0]}'); they score 0 on every measure.")
    if warnings:
        task.meta.setdefault("warnings", []).extend(warnings)
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
    """FollowIR: queries come in -og / -changed pairs that differ (in instruction or text: an empty
    instruction is fine), and at least one pair has changed documents (else p-MRR is undefined).
    Pairs without changed documents, and changed documents outside a query's candidates (which can
    only rank after all of them in both runs), are scored as mteb does, with a warning in `task.meta`."""
    queries, queries_file = task.queries, origin / "queries.jsonl"
    for qid in queries:
        if not qid.endswith((OG, CHANGED)):
            raise IfirError(f"{queries_file}: query '{qid}' ends in neither {OG} nor {CHANGED} (FollowIR queries come in pairs).")
        base = base_query_id(qid)
        partner = base + (CHANGED if qid.endswith(OG) else OG)
        if partner not in queries:
            raise IfirError(f"{queries_file}: query '{qid}' has no '{partner}' partner (FollowIR queries come in pairs).")
    bases = sorted({base_query_id(q) for q in queries})
    same = [b for b in bases if (queries[b + OG].text, queries[b + OG].instruction.strip())
            == (queries[b + CHANGED].text, queries[b + CHANGED].instruction.strip())]
    if same:
        raise IfirError(
            f"{origin}: queries '{same[0]}{OG}' and '{same[0]}{CHANGED}' have the same text and instruction ({len(same)} of "
            f"{len(bases)} pairs), so p-MRR has no two rankings to compare; an empty instruction is fine where the other differs."
        )
    diff_file = origin / "qrel_diff.jsonl"
    for base in task.changed_docs:
        if base + OG not in queries:
            raise IfirError(f"{diff_file}: query '{base}' has no '{base}{OG}' / '{base}{CHANGED}' queries in {queries_file}.")
    if not any(docs for docs in task.changed_docs.values()):
        raise IfirError(f"{diff_file}: no query has changed documents, so p-MRR cannot be computed.")
    unchanged = [b for b in bases if not task.changed_docs.get(b)]
    if unchanged:
        task.meta.setdefault("warnings", []).append(
            f"{diff_file}: {len(unchanged)} of {len(bases)} query pairs have no changed documents (e.g. '{unchanged[0]}'); "
            f"p-MRR leaves them out, as mteb does (their MAP and nDCG still count)."
        )
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
    """`ifir_task.json` (written by `ifir-bench data export`, or by hand), if any: `source` and
    `revision` (required), `name`, `split`, `measures`, `family`, and the family's `scorer` and
    `main` score, which default to the family's (`harness.families`)."""
    path = root / EXPORT_META
    if not path.is_file():
        return {}
    meta = read_json(path)
    if not isinstance(meta, dict):
        raise IfirError(f"{path}: expected a JSON object, got {type(meta).__name__}.")
    for key, kind in (("source", str), ("revision", str), ("name", str), ("measures", list), ("family", str),
                      ("scorer", (str, type(None))), ("main", (str, type(None)))):
        if key in ("source", "revision") and key not in meta:
            raise IfirError(f"{path}: missing field '{key}' (written by `ifir-bench data export`); re-export the task or delete this file.")
        if key in meta and not isinstance(meta[key], kind):
            raise IfirError(f"{path}: field '{key}' should be {getattr(kind, '__name__', 'str or null')}, got {type(meta[key]).__name__}.")
    fam = family(meta.get("family", "local"), str(path))
    meta.setdefault("scorer", fam.scorer_name)  # an export writes both, null or not
    scorer = scorer_named(meta["scorer"], str(path)) if meta["scorer"] is not None else None
    meta.setdefault("main", scorer.main if scorer else None)
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
    exported = _exported_meta(root)
    corpus = read_corpus(root / "corpus.jsonl", allow_empty=bool(exported))
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
    groups = None
    if (root / GROUPS).is_file():
        files.append(root / GROUPS)
        groups = read_groups(root / GROUPS)
    unknown_q = [q for q in qrels if q not in queries]
    if unknown_q:
        raise IfirError(f"{qrels_path}: query '{unknown_q[0]}' is not in {root / 'queries.jsonl'} ({len(unknown_q)} unknown).")
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
        groups=groups,
    )
    if task.main and task.main not in (*task.measures, "p-MRR", task.scorer and scorer_named(task.scorer, str(root)).main):
        raise IfirError(f"{root / EXPORT_META}: main score '{task.main}' is neither one of the measures "
                        f"({', '.join(task.measures)}) nor the score of the family's scorer.")
    check_references(task, root, strict=not exported)  # an export keeps the hub data's own judgements
    return task
