"""Prompt robustness: the main score of one (model, task) under N paraphrased generic prompts.

The idea is Promptriever's (Weller et al. 2024, arXiv 2409.11136, "robustness to prompts"): score
a retriever under several wordings of the same generic request and report the spread; mteb issue
#5167 asks for the same. What a paraphrase replaces: it is a *generic* retrieval prompt, so it
fills a query's instruction slot where the query has no instruction (BEIR, BRIGHT: Promptriever's
setting), and where the task brings its own instruction (FollowIR, mFollowIR, InstructIR, IFIR)
that instruction stays, since it is what the task tests (p-MRR compares two of them), and the
paraphrase is put before it as a prefix. The model's template then joins query and instruction
as usual. Documents do not change, so the corpus is encoded once (the embedding cache, or an
in-memory one with --no-cache); only the queries are encoded again, once per paraphrase.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import replace
from pathlib import Path

from harness.errors import IfirError, where
from harness.fileio import read_lines
from harness.metrics.pmrr import scale, shown, shown_sd
from harness.types import Query, Task

DEFAULT = [  # written for this project: generic, task-independent retrieval requests
    "Find documents that answer this query.",
    "Retrieve passages that are relevant to the request above.",
    "A relevant document addresses the information need stated here.",
    "Return the documents most useful for this search; shared keywords alone do not make a document relevant.",
    "Search for evidence that responds to this question, and judge relevance strictly.",
    "Which passages would someone asking this want to read?",
]
PACKAGED = {"default": DEFAULT}


def load_paraphrases(spec: str) -> tuple[str, list[str]]:
    """(source, paraphrases) from a packaged set name or a file: one paraphrase a line, or JSON Lines
    with a `paraphrase` (or `text` / `instruction`) field; blank lines are skipped."""
    if spec in PACKAGED:
        return spec, list(PACKAGED[spec])
    path = Path(spec).expanduser()
    if not path.is_file():
        raise IfirError(f"--paraphrases '{spec}' is neither a packaged set ({', '.join(PACKAGED)}) nor a file.")
    texts = []
    for n, line in read_lines(path):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise IfirError(f"{where(path, n)}: not valid JSON ({e.msg}).") from None
            text = next((obj[k] for k in ("paraphrase", "text", "instruction") if isinstance(obj, dict) and k in obj), None)
            if not isinstance(text, str) or not text.strip():
                raise IfirError(f"{where(path, n)}: expected an object with a non-empty 'paraphrase' string.")
        else:
            text = line
        texts.append(text.strip())
    if not texts:
        raise IfirError(f"{path}: no paraphrases (one a line, or JSON Lines with 'paraphrase').")
    return str(path), texts


def with_paraphrase(task: Task, paraphrase: str) -> Task:
    """The task with `paraphrase` as each query's instruction, or before the query's own instruction."""
    queries = {
        qid: Query(q.id, q.text, f"{paraphrase} {q.instruction}" if q.instruction else paraphrase)
        for qid, q in task.queries.items()
    }
    return replace(task, queries=queries)


def summarize(values: list[float]) -> dict:
    """mean, sample standard deviation (n - 1; 0 for one value) and minimum."""
    return {
        "mean": statistics.fmean(values),
        "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
    }


def paraphrase_summary(result: dict) -> str | None:
    """One line for the console: the spread of the main score over the paraphrases, if any."""
    block = result.get("paraphrases")
    if not block:
        return None
    m = block["measure"]
    return (f"{result['task']['name']}: {m}{' x100' if scale(m) != 1.0 else ''} under {block['n']} paraphrases: "
            f"mean {shown(block['mean'], m)}, sd {shown_sd(block['sd'], m)[1:]}, min {shown(block['min'], m)}")
