"""`--model cross-encoder:PATH_OR_HUB_ID[@revision]`: a sentence-transformers `CrossEncoder` reranker
scoring (query with instruction, document) pairs; needs a first stage or a task's candidates."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from harness.devices import one_device
from harness.errors import IfirError
from harness.models.locate import locate_model
from harness.models.protocols import ModelMeta, query_texts
from harness.progress import progress
from harness.types import Document, Query, Run

PROGRESS_CHUNK = 1024  # pairs per progress step; predict() batches within it


@contextmanager
def load_reports() -> Iterator[list[str]]:
    """The messages transformers logs while a model loads, whatever its verbosity: its report of
    weights missing from the checkpoint and newly initialized ("LOAD REPORT" since transformers 5,
    "Some weights ... are newly initialized" before)."""
    logger = logging.getLogger("transformers.modeling_utils")
    reports: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: reports.append(record.getMessage())
    level = logger.level
    if not logger.isEnabledFor(logging.WARNING):
        logger.setLevel(logging.WARNING)
    logger.addHandler(handler)
    try:
        yield reports
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class CrossEncoderReranker:
    """A `Reranker`: each distinct (query text, document text) pair is scored once, in batches."""

    def __init__(self, path_or_hub_id: str = "", *, batch_size: int = 32, device: str | None = None):
        if not path_or_hub_id:
            raise IfirError("cross-encoder needs a model: --model 'bm25>>cross-encoder:PATH_OR_HUB_ID'.")
        from sentence_transformers import CrossEncoder

        folder, name, revision = locate_model(
            path_or_hub_id, kind="cross-encoder model", required=("config.json",), option="cross-encoder:FOLDER"
        )
        from safetensors import SafetensorError

        try:
            with load_reports() as reports:
                self.model = CrossEncoder(folder, device=one_device(device, "cross-encoder"))
        except (OSError, ValueError, SafetensorError) as e:
            raise IfirError(f"Could not load a cross-encoder from '{path_or_hub_id}': {e}") from None
        if any("newly initialized" in r for r in reports):
            raise IfirError(f"{folder} is no trained cross-encoder: transformers initialised its classification head at random "
                            f"while loading it (weights missing from the checkpoint), so its scores would be noise.")
        if self.model.num_labels != 1:
            raise IfirError(f"'{path_or_hub_id}' outputs {self.model.num_labels} labels; a reranker must output one relevance score.")
        self.batch_size = batch_size
        self.timings = {"rerank_s": 0.0, "pairs_scored": 0}
        self.meta = ModelMeta(
            name=name, revision=revision, kind="reranker", spec=f"cross-encoder:{path_or_hub_id}", extra={"path": folder}
        )

    def rerank(
        self, corpus: Mapping[str, Document], queries: Mapping[str, Query], candidates: Mapping[str, Sequence[str]]
    ) -> Run:
        t0 = time.perf_counter()
        queries = query_texts(self.meta, queries)
        missing = next(((q, d) for q, docs in candidates.items() for d in docs if d not in corpus), None)
        if missing:
            raise IfirError(f"Candidate '{missing[1]}' of query '{missing[0]}' is not in the corpus.")
        pair_of = {(q, d): (queries[q], self.meta.format_doc(corpus[d])) for q, docs in candidates.items() for d in docs}
        unique = list(dict.fromkeys(pair_of.values()))
        score_of = {}
        with progress() as bar:
            job = bar.add_task("cross-encoder: scoring pairs", total=len(unique))
            for start in range(0, len(unique), PROGRESS_CHUNK):
                chunk = unique[start : start + PROGRESS_CHUNK]
                scores = self.model.predict(chunk, batch_size=self.batch_size, show_progress_bar=False)
                score_of.update(zip(chunk, (float(s) for s in scores)))
                bar.advance(job, len(chunk))
        self.timings["rerank_s"] += time.perf_counter() - t0
        self.timings["pairs_scored"] += len(unique)
        return {q: {d: score_of[pair_of[q, d]] for d in docs} for q, docs in candidates.items()}
