"""Multi-stage retrieval: `stage1>>stage2>>...`; the first retrieves (or, on FollowIR, takes the
task's candidates), each later stage reranks the previous stage's top `rerank_depth`.

Every stage receives the `Query` objects (instruction still separate) and applies its own
template; the runner wraps the stages with the run's options (cache, batch size, progress)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.errors import IfirError
from harness.models.protocols import Encoder, ModelMeta, Reranker, Retriever
from harness.ranking import ranked
from harness.search import as_searcher
from harness.types import Document, Query, Run


class Pipeline:
    """`models` are the stages as loaded; `stages` the searchers over them (`as_searcher`, with
    default options here; the runner rebuilds them with the run's options via `with_options`)."""

    def __init__(self, stages: list, *, spec: str = "", rerank_depth: int = 100, searchers: list | None = None):
        if len(stages) < 2:
            raise IfirError("A pipeline needs at least two stages, joined by '>>'.")
        for s in stages[1:]:
            if not isinstance(s, (Reranker, Encoder)):
                raise IfirError(f"Pipeline stage '{s.meta.name}' cannot rerank, so it cannot follow another stage.")
        self.models = list(stages)
        self.stages = searchers or [as_searcher(s) for s in stages]
        self.spec = spec
        self.rerank_depth = rerank_depth
        first = self.stages[0].meta
        self.meta = ModelMeta(
            name=" >> ".join(s.meta.name for s in self.stages),
            revision=" >> ".join(s.meta.revision for s in self.stages),
            kind="pipeline",
            query_template=first.query_template,
            doc_template=first.doc_template,
            spec=spec,
            extra={"rerank_depth": rerank_depth, "stages": [s.meta.to_dict() for s in self.stages]},
        )

    def with_options(self, wrap) -> Pipeline:
        """The same pipeline with each stage wrapped by `wrap` (`as_searcher` with a run's options)."""
        return Pipeline(self.models, spec=self.spec, rerank_depth=self.rerank_depth, searchers=[wrap(m) for m in self.models])

    @property
    def timings(self) -> dict:
        return {f"stage{i + 1}": getattr(s, "timings", {}) for i, s in enumerate(self.stages)}

    def _rerank_from(self, run: Run, corpus: Mapping[str, Document], queries: Mapping[str, Query]) -> Run:
        """Each later stage reranks the top `rerank_depth`; the rest keep their order below them."""
        for stage in self.stages[1:]:
            order = {q: ranked(run.get(q, {})) for q in queries}
            head = stage.rerank(corpus, queries, {q: docs[: self.rerank_depth] for q, docs in order.items()})
            run = {q: _above(head.get(q, {}), order[q][self.rerank_depth :]) for q in queries}
        return run

    def retrieve(self, corpus: Mapping[str, Document], queries: Mapping[str, Query], *, top_k: int) -> Run:
        first = self.stages[0]
        if not isinstance(first, Retriever):
            raise IfirError(f"Pipeline stage '{first.meta.name}' cannot retrieve from a corpus; put a retriever first.")
        return self._rerank_from(first.retrieve(corpus, queries, top_k=max(top_k, self.rerank_depth)), corpus, queries)

    def rerank(
        self, corpus: Mapping[str, Document], queries: Mapping[str, Query], candidates: Mapping[str, Sequence[str]]
    ) -> Run:
        first = self.stages[0]
        if not isinstance(first, Reranker):
            raise IfirError(f"Pipeline stage '{first.meta.name}' cannot rerank the task's candidates; put a reranker first.")
        return self._rerank_from(first.rerank(corpus, queries, candidates), corpus, queries)


def _above(head: dict[str, float], rest: list[str]) -> dict[str, float]:
    """`head` as scored, then `rest` in its order, scored below every head score."""
    floor = min(head.values(), default=0.0)
    return {**head, **{doc: floor - 1.0 - i for i, doc in enumerate(rest)}}
