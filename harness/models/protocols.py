"""What a retriever must offer. A model implements one or more of these; the runner adapts.

- `Encoder`: turns texts into vectors; the harness does caching and exact search. One that loads
  its model on first use may offer `load()` (no arguments; loads it if not yet): the runner calls it
  before encoding and times it as the `load` phase.
- `Retriever`: full retrieval over a corpus (BM25, a pipeline).
- `Reranker`: scores given candidates per query (cross-encoders; FollowIR's setting).

Retrievers and rerankers receive `Query` objects (text and instruction still separate fields) and
join them with their own `meta.query_template` (`query_texts`), so each stage of a pipeline
applies its own template. Encoders receive texts already joined.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal, Protocol, runtime_checkable

import numpy as np

from harness.types import Document, Query, Run

DEFAULT_QUERY_TEMPLATE = "{query} {instruction}"
DEFAULT_DOC_TEMPLATE = "{title} {text}"

VECTOR_SETTINGS = ("max_seq_length", "backend", "quantize", "precision", "truncate_dim")
"""Keys of `ModelMeta.extra` that change a vector (beside name, revision, prompts, doc template)."""


def join_query(template: str, query: str, instruction: str) -> str:
    """A query joined with its instruction by a template (`{query}`, `{instruction}`), trimmed."""
    return template.format(query=query, instruction=instruction).strip()


def template_problem(template: str) -> str | None:
    """Why `template` cannot join a query and an instruction (None when it can): it may use only
    `{query}` and `{instruction}`, and must use `{query}`."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(template) if f is not None]
    except ValueError as e:
        return f"{template!r} is not a format string ({e}); use {{query}} and {{instruction}}."
    unknown = [f for f in fields if f not in ("query", "instruction")]
    if unknown:
        return f"unknown field {{{unknown[0]}}} in {template!r}; a template may use only {{query}} and {{instruction}}."
    if "query" not in fields:
        return f"{template!r} has no {{query}} field; e.g. '{{instruction}} {{query}}'."
    return None


def identity_hash(identity: object, length: int = 16) -> str:
    """The project's one hash of a JSON identity (result identities, model settings, training rows,
    leaderboard set-ups): SHA-256 of its canonical JSON (sorted keys, compact, UTF-8; values JSON
    cannot write are written as their str), the first `length` hex digits."""
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:length]


@dataclass
class ModelMeta:
    """Declarative facts about a model, stored in every result file.

    `query_prompt` / `doc_prompt` are the exact prompt strings the encoder prepends (sentence-
    transformers prompts), recorded so results and cached vectors of prompted models stay apart.
    """

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

    def vector_identity(self) -> dict:
        """Everything that changes a vector (or a sparse score) for a given text: the embedding
        cache key is a hash of this. The query template is not here: it changes the text."""
        identity = {
            "name": self.name,
            "revision": self.revision,
            "kind": self.kind,
            "query_prompt": self.query_prompt,
            "doc_prompt": self.doc_prompt,
            "doc_template": self.doc_template,
        }
        identity.update({k: self.extra[k] for k in VECTOR_SETTINGS if self.extra.get(k) is not None})
        return identity

    def to_dict(self) -> dict:
        return asdict(self)


def query_texts(meta: ModelMeta, queries: Mapping[str, Query | str]) -> dict[str, str]:
    """Query id -> the text a model reads: a `Query` joined by `meta`'s template; a plain string is
    taken as already joined (callers that build texts themselves, e.g. a trainer's miner)."""
    return {qid: q if isinstance(q, str) else meta.format_query(q) for qid, q in queries.items()}


@runtime_checkable
class Encoder(Protocol):
    meta: ModelMeta

    def encode(
        self, texts: Sequence[str], *, kind: Literal["query", "document"], batch_size: int, show_progress: bool = False
    ) -> np.ndarray: ...


@runtime_checkable
class Retriever(Protocol):
    meta: ModelMeta

    def retrieve(self, corpus: Mapping[str, Document], queries: Mapping[str, Query], *, top_k: int) -> Run: ...


@runtime_checkable
class Reranker(Protocol):
    meta: ModelMeta

    def rerank(
        self, corpus: Mapping[str, Document], queries: Mapping[str, Query], candidates: Mapping[str, Sequence[str]]
    ) -> Run: ...
