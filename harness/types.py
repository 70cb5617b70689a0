"""The few plain types everything else speaks: documents, queries, qrels, runs, tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Qrels = dict[str, dict[str, int]]
"""query id -> doc id -> graded relevance."""

Run = dict[str, dict[str, float]]
"""query id -> doc id -> score (higher is better)."""

TaskKind = Literal["retrieval", "instruction-reranking"]

OG, CHANGED = "-og", "-changed"


@dataclass(frozen=True)
class Document:
    id: str
    text: str
    title: str = ""


@dataclass(frozen=True)
class Query:
    """A query; the instruction is its own field, joined to the text only by a model's template."""

    id: str
    text: str
    instruction: str = ""


@dataclass
class Task:
    """A loaded evaluation task.

    For an instruction-reranking (FollowIR) task, query ids end in `-og` / `-changed`,
    `candidates` holds each query's documents to rank, and `changed_docs` maps a base query id
    to the documents whose judgement changed between the two instructions. `excluded` maps a
    query id to documents that must never be returned for it (BRIGHT's `excluded_ids`, a query's
    own id where the reference ignores identical ids). `family` is a `harness.families` id; `scorer`
    names the extra measures (`harness.metrics.family.SCORERS`), and `main` the measure that ranks
    models when it is not the default.
    `groups` labels per-query keys for a breakdown of the main measure.
    """

    name: str
    kind: TaskKind
    corpus: dict[str, Document]
    queries: dict[str, Query]
    qrels: Qrels
    measures: list[str]
    source: str
    revision: str
    split: str = "test"
    candidates: dict[str, list[str]] | None = None
    changed_docs: dict[str, list[str]] | None = None
    meta: dict = field(default_factory=dict)
    family: str = "local"
    excluded: dict[str, list[str]] | None = None
    scorer: str | None = None
    main: str | None = None
    groups: dict[str, str] | None = None
    """Optional labels of the main measure's per-query keys (a query, base query or pair id) by
    which results are also broken down (`groups.jsonl`: e.g. the kind of constraint each tests)."""

    @property
    def main_measure(self) -> str:
        if self.main:
            return self.main
        return "p-MRR" if self.kind == "instruction-reranking" else self.measures[0]


def base_query_id(qid: str) -> str:
    """`q1-og` / `q1-changed` -> `q1`."""
    for suffix in (OG, CHANGED):
        if qid.endswith(suffix):
            return qid[: -len(suffix)]
    return qid
