"""Write a loaded task to the local BEIR / FollowIR layout that `load_local` reads back."""

from __future__ import annotations

from pathlib import Path

from harness.data.local import EXCLUDED, EXPORT_META
from harness.fileio import atomic_write_json, atomic_write_text, write_jsonl
from harness.types import Task


def export_task(task: Task, directory: str | Path) -> Path:
    """Everything `load_local` needs to rebuild the same task: data files, and in `ifir_task.json`
    the name, origin, measures, family, family scorer and main measure."""
    root = Path(directory)
    followir = task.kind == "instruction-reranking"
    write_jsonl(root / "corpus.jsonl", ({"_id": d.id, "title": d.title, "text": d.text} for d in task.corpus.values()))
    write_jsonl(root / "queries.jsonl", (
        {"_id": q.id, "text": q.text, **({"instruction": q.instruction} if q.instruction and not followir else {})}
        for q in task.queries.values()
    ))
    rows = ["query-id\tcorpus-id\tscore\n"]
    rows += [f"{q}\t{d}\t{rel}\n" for q, docs in task.qrels.items() for d, rel in docs.items()]
    atomic_write_text(root / "qrels" / f"{task.split}.tsv", "".join(rows))
    if followir:
        write_jsonl(root / "instructions.jsonl", ({"query-id": q.id, "instruction": q.instruction} for q in task.queries.values()))
        write_jsonl(root / "qrel_diff.jsonl", ({"query-id": q, "corpus-ids": c} for q, c in (task.changed_docs or {}).items()))
    if task.candidates is not None:
        write_jsonl(root / "top_ranked.jsonl", ({"query-id": q, "corpus-ids": c} for q, c in task.candidates.items()))
    if task.excluded:
        write_jsonl(root / EXCLUDED, ({"query-id": q, "corpus-ids": c} for q, c in task.excluded.items()))
    atomic_write_json(root / EXPORT_META, {"name": task.name, "source": task.source, "revision": task.revision,
                                           "split": task.split, "measures": task.measures, "family": task.family,
                                           "scorer": task.scorer, "main": task.main})
    return root
