"""What a retriever must offer. A model implements one or more of these; the runner adapts.

- `Encoder`: turns texts into vectors; the harness does caching and exact search.
- `Retriever`: full retrieval over a corpus (BM25, a pipeline).
- `Reranker`: scores given candidates per query (cross-encoders; FollowIR's setting).
Queries arrive already joined with their instruction by the model's `meta.query_template`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from harness.types import Document, Query, Run

DEFAULT_QUERY_TEMPLATE = "{query} {instruction}"
DEFAULT_DOC_TEMPLATE = "{title} {text}"


def join_query(template: str, query: str, instruction: str) -> str:
    """A query joined with its instruction by a template (`{query}`, `{instruction}`), trimmed."""
    return template.format(query=query, instruction=instruction).strip()


@dataclass
class ModelMeta:
    """Declarative facts about a model, stored in every result file."""

    name: str
    revision: str
    kind: str
    query_template: str = DEFAULT_QUERY_TEMPLATE
    doc_template: str = DEFAULT_DOC_TEMPLATE
    spec: str = ""
    extra: dict = field(default_factory=dict)
    query_prompt: str = ""
    doc_prompt: str = ""

    def format_query(self, query: Query) -> str:
        return join_query(self.query_template, query.text, query.instruction)

    def format_doc(self, doc: Document) -> str:
        return self.doc_template.format(title=doc.title, text=doc.text).strip()

    def to_dict(self) -> dict:
        return asdict(self)


@runtime_checkable
class Encoder(Protocol):
    meta: ModelMeta

    def encode(
        self, texts: Sequence[str], *, kind: Literal["query", "document"], batch_size: int, show_progress: bool = False
    ) -> np.ndarray: ...


@runtime_checkable
class Retriever(Protocol):
    meta: ModelMeta

    def retrieve(self, corpus: Mapping[str, Document], queries: Mapping[str, str], *, top_k: int) -> Run: ...


@runtime_checkable
class Reranker(Protocol):
    meta: ModelMeta

    def rerank(
        self, corpus: Mapping[str, Document], queries: Mapping[str, str], candidates: Mapping[str, Sequence[str]]
    ) -> Run: ...
