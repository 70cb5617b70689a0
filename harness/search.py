"""Where model output enters the harness: `DenseSearch` adapts an `Encoder` (texts deduplicated,
cached, encoded once, searched exactly in chunks; every vector checked before it is stored),
`CheckedSearch` adapts a `Retriever` / `Reranker` (every run checked before anything uses it),
`as_searcher` picks the adapter with a run's options and `produce_run` runs it on a task."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import torch

from harness.cache import EmbeddingCache, MemoryCache, VectorStore, default_cache_dir, text_key
from harness.console import warning
from harness.errors import IfirError
from harness.exclusions import exclusion_depth, without_excluded
from harness.devices import encode_devices
from harness.models.protocols import Encoder, ModelMeta, Reranker, Retriever, identity_hash, query_texts
from harness.progress import progress
from harness.ranking import top_k as ranked_top_k
from harness.types import Document, Query, Run, Task

_SCORE_TYPES = (float, int, np.floating, np.integer)

CHARS_PER_TOKEN = 20
HARD_CHARS_PER_TOKEN = 2000
DEFAULT_MAX_TOKENS = 8192
_WORD = re.compile(r"\S+")
_PLURAL = {"query": "queries", "document": "documents"}
DEFAULT_TOP_K = 1000


def cut(text: str, max_tokens: int) -> str:
    """The start of `text` that holds everything a model reading `max_tokens` tokens reads.

    Rule: a text longer than 20 characters per token is cut at 20 x max_tokens characters, or
    after its (max_tokens + 1)-th word (run of non-space characters) if that ends later, and never
    after 2,000 x max_tokens characters. Each word gives at least one token in WordPiece, BPE and
    SentencePiece tokenizers, and the tokens of the words before a cut do not depend on what comes
    after it, so the first max_tokens tokens (the only ones the model reads: it truncates there)
    are the same with and without the cut. Hence the cut is not part of a vector's identity. It
    changes the input only where the first max_tokens words span more than 2,000 characters each
    on average (whitespace runs or one giant word, which WordPiece reads as a single [UNK] either
    way) or are made only of characters the tokenizer drops. It keeps a 50 MB document from being
    tokenized whole: time and memory stay proportional to what the model reads.
    """
    limit = CHARS_PER_TOKEN * max_tokens
    if len(text) <= limit:
        return text
    hard = HARD_CHARS_PER_TOKEN * max_tokens
    for i, word in enumerate(_WORD.finditer(text, 0, hard)):
        if i == max_tokens:
            return text[: max(limit, word.end())]
    return text[:hard]


@dataclass
class Embeddings:
    """Vectors of a list of texts: text i's vector is `matrix[rows[i]]` (equal texts share a row)."""

    matrix: np.ndarray
    rows: np.ndarray

    def take(self, index) -> torch.Tensor:
        """The vectors of the texts at `index` (a slice or positions), copied out of the store."""
        return torch.from_numpy(np.ascontiguousarray(self.matrix[self.rows[index]]))


def top_candidates(
    q: torch.Tensor, docs: Embeddings, k: int, *, chunk: int, device: torch.device, query_block: int = 256
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per query, (scores, positions) of every document scoring at least its k-th best score.

    The corpus is read `chunk` documents at a time; each chunk's top k is kept together with any
    document tied with its k-th score, so whatever order the caller then gives to equal scores,
    merging chunks loses no document that the whole-corpus ranking would put in the top k.
    """
    empty = (np.empty(0, np.float32), np.empty(0, np.int64))
    best = [empty] * len(q)
    q = q.to(device)
    for start in range(0, len(docs.rows), chunk):
        d = docs.take(slice(start, start + chunk)).to(device)
        kk = min(k, len(d))
        for qs in range(0, len(q), query_block):
            scores = q[qs : qs + query_block] @ d.T
            values, idx = torch.topk(scores, kk, dim=1)
            kth = values[:, -1:]
            tied_out = set(((scores >= kth).sum(1) > kk).nonzero().flatten().tolist())
            values, idx = values.cpu().numpy(), idx.cpu().numpy() + start
            for r in range(len(values)):
                v, p = values[r], idx[r]
                if r in tied_out:
                    keep = (scores[r] >= kth[r]).nonzero().flatten()
                    v, p = scores[r][keep].cpu().numpy(), keep.cpu().numpy() + start
                v, p = np.concatenate((best[qs + r][0], v)), np.concatenate((best[qs + r][1], p))
                if len(v) > k:
                    keep = v >= np.partition(v, len(v) - k)[len(v) - k]
                    v, p = v[keep], p[keep]
                best[qs + r] = (v, p)
    return best


class DenseSearch:
    """Adapts an `Encoder` to the `Retriever` and `Reranker` protocols.

    Encoding goes batch by batch (the progress bar moves per batch, with an ETA) and is committed
    to the store every `shard_seconds` or `shard_rows` rows, and on an interrupt: a stopped run
    keeps all but its last seconds. The encoder is only called for texts not in the store, so a
    lazily loaded model is never loaded on a fully cached run. Search runs on `device`.
    """

    def __init__(
        self,
        encoder: Encoder,
        *,
        cache: EmbeddingCache | MemoryCache | None = None,
        batch_size: int = 32,
        device: str | None = None,
        shard_seconds: float = 10.0,
        shard_rows: int = 65536,
        search_chunk: int = 65536,
        show_progress: bool = True,
    ):
        self.encoder = encoder
        self.meta = encoder.meta
        self.cache = cache if cache is not None else MemoryCache()
        self.batch_size = batch_size
        devices = encode_devices(device)
        self.device = torch.device(devices[0] if isinstance(devices, list) else devices or "cpu")
        self.shard_seconds = shard_seconds
        self.shard_rows = shard_rows
        self.search_chunk = search_chunk
        self.show_progress = show_progress
        self.timings = {"encode_s": 0.0, "search_s": 0.0, "texts_encoded": 0, "texts_cached": 0}

    def _keys(self, texts: Sequence[str], kind: str) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
        """(texts as encoded, their distinct keys sorted, each one's first text, text -> distinct key,
        a new store's row order of the distinct keys, whether rows are stored normalised)."""
        max_tokens = int(self.meta.extra.get("max_seq_length") or DEFAULT_MAX_TOKENS)
        texts = [cut(t, max_tokens) for t in texts]
        keys = np.frombuffer(b"".join(text_key(kind, t) for t in texts), dtype="S16")
        distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        # A new store's rows go longest text first, as sentence-transformers batches them.
        order = np.lexsort((distinct, -np.array([len(texts[i]) for i in first])))
        return texts, distinct, first, inverse, order, self.meta.extra.get("similarity", "cosine") == "cosine"

    def embed(self, texts: Sequence[str], kind: str) -> Embeddings:
        """Vectors of `texts`; each distinct text is read from the store (or from its parts) or encoded once."""
        t0 = time.perf_counter()
        if not texts:
            return Embeddings(np.zeros((0, 0), dtype=np.float32), np.zeros(0, dtype=np.int64))
        texts, distinct, first, inverse, order, normalized = self._keys(texts, kind)
        if isinstance(self.cache, EmbeddingCache):
            parts = self.cache.read_parts(distinct[order], normalized=normalized, what=f"{len(distinct)} {_PLURAL.get(kind, kind)}")
            if parts is not None:  # every row was encoded by `ifir-bench encode --part`: nothing to encode
                self.timings["texts_cached"] += len(distinct)
                self.timings["encode_s"] += time.perf_counter() - t0
                return Embeddings(parts, np.argsort(order)[inverse])
        store = self.cache.open(distinct[order], normalized=normalized)
        try:
            row_of = np.argsort(store.rows)  # store.rows[row_of[j]] == distinct[j]
            todo = first[np.argsort(row_of)][store.done :]
            self.timings["texts_cached"] += store.done
            if len(todo):
                self._encode(store, [texts[i] for i in todo], kind)
                self.timings["texts_encoded"] += len(todo)
            matrix = store.matrix()
        finally:
            store.close()
        self.timings["encode_s"] += time.perf_counter() - t0
        return Embeddings(matrix, row_of[inverse])

    def encode_part(self, texts: Sequence[str], kind: str, part: int, parts: int, *, about: dict) -> dict:
        """Encode only part `part` of `parts` of these texts' store into its own piece of the cache
        (resuming what an earlier run of the same part committed); returns what was done."""
        if not isinstance(self.cache, EmbeddingCache):
            raise IfirError("encoding a part needs the on-disk embedding cache (not --no-cache).")
        t0 = time.perf_counter()
        texts, distinct, first, _, order, normalized = self._keys(texts, kind)
        store = self.cache.open_part(distinct[order], normalized=normalized, part=part, parts=parts, batch_size=self.batch_size,
                                     about=about | {"kind": kind, "batch_size": self.batch_size})
        try:
            start, end, before = store.part["start"], store.part["end"], store.done
            todo = first[np.searchsorted(distinct, store.rows[before:])]  # rows in the part's own order
            if len(todo):
                self._encode(store, [texts[i] for i in todo], kind)
        finally:
            store.close()
        return {"kind": kind, "part": part, "parts": parts, "start": start, "end": end, "rows": len(distinct),
                "already": before, "encoded": store.done - before, "seconds": time.perf_counter() - t0, "folder": str(store.dir)}

    def _encode(self, store, texts: list[str], kind: str) -> None:
        devices = getattr(self.encoder, "devices", None)
        step = self.batch_size * (len(devices) if isinstance(devices, list) else 1)
        pending: list[np.ndarray] = []
        last = time.monotonic()
        with progress(self.show_progress) as bar:
            job = bar.add_task(f"encoding {_PLURAL.get(kind, kind)}", total=len(texts))
            try:
                for start in range(0, len(texts), step):
                    batch = texts[start : start + step]
                    emb = self._checked(self.encoder.encode(batch, kind=kind, batch_size=self.batch_size, show_progress=False),
                                        len(batch), kind, store.dim)
                    pending.append(emb)
                    bar.advance(job, len(batch))
                    if sum(map(len, pending)) >= self.shard_rows or time.monotonic() - last >= self.shard_seconds:
                        store.append(np.concatenate(pending))
                        pending, last = [], time.monotonic()
            except KeyboardInterrupt:  # Ctrl-C keeps every finished batch, and says so
                if pending:
                    store.append(np.concatenate(pending))
                    pending = []
                kept = (f"{store.done} of {len(store.rows)} {kind} vectors are kept in {store.dir}; the same command resumes from them"
                        if isinstance(store, VectorStore) else "no vectors are kept under --no-cache")
                warning(f"interrupted while encoding {_PLURAL.get(kind, kind)}: {kept}.")
                raise
            finally:  # an error keeps every finished batch too
                if pending:
                    store.append(np.concatenate(pending))

    def _checked(self, out, n: int, kind: str, dim: int | None) -> np.ndarray:
        """One batch of vectors as the encoder returned them: n rows of finite float32 numbers, of the
        store's dimension. Anything else is refused before it is stored, so it is never cached."""
        plural = _PLURAL.get(kind, kind)
        try:
            emb = np.asarray(out)
        except (TypeError, ValueError) as e:  # ragged lists
            raise IfirError(f"'{self.meta.name}' returned {type(out).__name__} for {n} {plural}, not an array of numbers ({e}).") from None
        if emb.dtype.kind not in "fiu":
            raise IfirError(f"'{self.meta.name}' returned values of type {emb.dtype} for {n} {plural}, not an array of numbers.")
        emb = emb.astype(np.float32, copy=False)
        if emb.ndim != 2 or len(emb) != n or (dim and emb.shape[1] != dim):
            raise IfirError(f"'{self.meta.name}' returned vectors of shape {emb.shape} for {n} texts{f' of dimension {dim}' if dim else ''}.")
        bad = int((~np.isfinite(emb)).any(axis=1).sum())
        if bad:
            raise IfirError(f"'{self.meta.name}' returned {bad} {kind} vector(s) holding NaN or infinite values, of {n} {plural} "
                            f"in one batch; nothing of that batch is kept or cached.")
        return emb

    def _same_dimension(self, docs: Embeddings, q: Embeddings) -> None:
        if len(docs.rows) and len(q.rows) and docs.matrix.shape[1] != q.matrix.shape[1]:
            raise IfirError(f"'{self.meta.name}' returned query vectors of dimension {q.matrix.shape[1]} and document vectors "
                            f"of dimension {docs.matrix.shape[1]}; they must have one dimension to be compared.")

    def text_sets(self, corpus: Mapping[str, Document], queries: Mapping[str, Query],
                  candidates: Mapping[str, Sequence[str]] | None = None) -> list[tuple[list[str], str]]:
        """(texts, kind) of each store that `retrieve` (or `rerank`, given candidates) embeds: what
        `ifir-bench encode --part` encodes."""
        doc_ids = sorted(corpus) if candidates is None else sorted({d for qid in queries for d in candidates[qid]})
        return [([self.meta.format_doc(corpus[i]) for i in doc_ids], "document"), (list(query_texts(self.meta, queries).values()), "query")]

    def retrieve(self, corpus: Mapping[str, Document], queries: Mapping[str, Query], *, top_k: int) -> Run:
        queries = query_texts(self.meta, queries)
        doc_ids = sorted(corpus)
        docs = self.embed([self.meta.format_doc(corpus[i]) for i in doc_ids], "document")
        qids = list(queries)
        q = self.embed([queries[i] for i in qids], "query")
        self._same_dimension(docs, q)
        t0 = time.perf_counter()
        k = min(top_k, len(doc_ids))
        run: Run = {qid: {} for qid in qids}
        if k > 0 and qids:
            found = top_candidates(q.take(slice(None)), docs, k, chunk=self.search_chunk, device=self.device)
            for qid, (values, positions) in zip(qids, found):
                run[qid] = ranked_top_k(dict(zip((doc_ids[p] for p in positions.tolist()), values.tolist())), k)
        self.timings["search_s"] += time.perf_counter() - t0
        return run

    def rerank(
        self, corpus: Mapping[str, Document], queries: Mapping[str, Query], candidates: Mapping[str, Sequence[str]]
    ) -> Run:
        queries = query_texts(self.meta, queries)
        doc_ids = sorted({d for qid in queries for d in candidates[qid]})
        position = {d: i for i, d in enumerate(doc_ids)}
        docs = self.embed([self.meta.format_doc(corpus[i]) for i in doc_ids], "document")
        qids = list(queries)
        q_emb = self.embed([queries[i] for i in qids], "query")
        self._same_dimension(docs, q_emb)
        q = q_emb.take(slice(None)).to(self.device)
        t0 = time.perf_counter()
        run: Run = {}
        for i, qid in enumerate(qids):
            cand = list(candidates[qid])
            scores = (docs.take([position[c] for c in cand]).to(self.device) @ q[i]).tolist() if cand else []
            run[qid] = dict(zip(cand, scores))
        self.timings["search_s"] += time.perf_counter() - t0
        return run


class CheckedSearch:
    """Adapts a `Retriever` / `Reranker` (BM25, a cross-encoder, a plugin): each run it returns is
    checked (`checked_run`) before the harness ranks or scores it. It has `retrieve` / `rerank` only
    where the model has them; everything else (`timings`, `close`, ...) is the model's."""

    def __init__(self, model):
        self.model = model
        self.meta = model.meta
        if isinstance(model, Retriever):  # set on the instance, so isinstance(self, Retriever) answers as for the model
            self.retrieve = self._retrieve
        if isinstance(model, Reranker):
            self.rerank = self._rerank

    def __getattr__(self, name: str):
        return getattr(self.model, name)

    def _retrieve(self, corpus: Mapping[str, Document], queries: Mapping[str, Query], *, top_k: int) -> Run:
        return checked_run(self.meta, self.model.retrieve(corpus, queries, top_k=top_k), queries, corpus=corpus, top_k=top_k)

    def _rerank(self, corpus: Mapping[str, Document], queries: Mapping[str, Query], candidates: Mapping[str, Sequence[str]]) -> Run:
        return checked_run(self.meta, self.model.rerank(corpus, queries, candidates), queries, candidates=candidates)


def checked_run(meta, run, queries: Mapping, *, corpus: Mapping | None = None, candidates: Mapping | None = None,
                top_k: int | None = None) -> Run:
    """A run as a model returned it, checked: a {doc id: score} dict for queries that were asked,
    scores that are finite numbers, doc ids that are documents of the corpus (`retrieve`) or the
    query's candidates, every one of them scored (`rerank`). Returns it with float scores, each
    query cut to its `top_k` best (`retrieve`). A query missing from a retriever's run is allowed
    (it scores 0; the runner warns)."""
    who = f"'{meta.name}'.{'rerank' if candidates is not None else 'retrieve'}()"
    if not isinstance(run, Mapping):
        raise IfirError(f"{who} returned {type(run).__name__}, not a dict of query id -> {{doc id: score}}.")
    out: Run = {}
    nonfinite: list[tuple[str, str]] = []
    for qid in run:
        scores = run[qid]
        if qid not in queries:
            raise IfirError(f"{who} returned a ranking for '{qid}', which is not one of the {len(queries)} queries it was given.")
        if not isinstance(scores, Mapping):
            raise IfirError(f"{who} returned {type(scores).__name__} for query '{qid}', not a dict of doc id -> score.")
        unknown = scores.keys() - (corpus.keys() if candidates is None else set(candidates.get(qid, ())))
        if unknown:
            what = "is not a document of the corpus" if candidates is None else "is not one of the query's candidates"
            raise IfirError(f"{who} returned '{sorted(map(str, unknown))[0]}' for query '{qid}', which {what} ({len(unknown)} such).")
        if all(type(v) is float for v in scores.values()):  # the usual case: nothing to convert
            row = dict(scores)
        else:
            for doc, score in scores.items():
                if not isinstance(score, _SCORE_TYPES) or isinstance(score, bool):
                    raise IfirError(f"{who} returned {score!r} ({type(score).__name__}) as the score of '{doc}' for query '{qid}', not a number.")
            row = {d: float(v) for d, v in scores.items()}
        if not np.isfinite(np.fromiter(row.values(), dtype=np.float64, count=len(row))).all():
            nonfinite += [(qid, d) for d, v in row.items() if not math.isfinite(v)]
        out[qid] = ranked_top_k(row, top_k) if top_k is not None and len(row) > top_k else row
    if nonfinite:
        qid, doc = nonfinite[0]
        raise IfirError(f"{who} returned {len(nonfinite)} NaN or infinite score(s) for the documents of "
                        f"{len({q for q, _ in nonfinite})} of {len(queries)} queries (e.g. '{doc}' of '{qid}'); scores must be finite.")
    if candidates is not None:
        unscored = [(q, d) for q in candidates for d in candidates[q] if d not in out.get(q, {})]
        if unscored:
            qid, doc = unscored[0]
            raise IfirError(f"{who} left {len(unscored)} of its {sum(map(len, candidates.values()))} candidates unscored "
                            f"(e.g. '{doc}' of query '{qid}'); a reranker scores every candidate it is given.")
    return out


@dataclass
class RunOptions:
    """Every option of a run, handed as one object to the runner, its searchers and pipeline stages.

    `template` and `measures` are overrides (None: the model's own template, the task's measures)."""

    output: Path = Path("results")
    top_k: int = DEFAULT_TOP_K
    batch_size: int = 32
    device: str | None = None
    cache_dir: Path | None = None
    use_cache: bool = True
    overwrite: bool = False
    show_progress: bool = True
    command: str | None = None
    template: str | None = None
    measures: list[str] | None = None
    paraphrases: str | None = None  # a packaged set name or a file (harness.paraphrases)
    model_overrides: dict | None = None  # model settings given on the command line (--query-prompt, ...): they name the variant


def embedding_cache_key(meta: ModelMeta) -> str:
    """The embedding cache's folder key: the model name (for people) and a hash of everything
    that changes a vector (`ModelMeta.vector_identity`), so a prompt or backend change never
    reads vectors made without it."""
    return f"{meta.name}@{identity_hash(meta.vector_identity())}"


class TimedEncoder:
    """An `Encoder` that times its own `encode` calls per kind: the result's encode phases. An encoder
    that loads its model on first use (it has `load()`) is loaded first, timed apart as `load`."""

    def __init__(self, encoder: Encoder):
        self.encoder = encoder
        self.meta = encoder.meta
        self.seconds = {"load": 0.0, "document": 0.0, "query": 0.0}
        self.texts = {"document": 0, "query": 0}

    def encode(self, texts: Sequence[str], *, kind: str, **kwargs):
        t0 = time.perf_counter()
        if hasattr(self.encoder, "load"):
            self.encoder.load()
        t1 = time.perf_counter()
        out = self.encoder.encode(texts, kind=kind, **kwargs)
        self.seconds["load"] += t1 - t0
        self.seconds[kind] += time.perf_counter() - t1
        self.texts[kind] += len(texts)
        return out

    def __getattr__(self, name):
        return getattr(self.encoder, name)


@runtime_checkable
class Staged(Protocol):
    """A model made of stages (`harness.pipeline.Pipeline`): `as_searcher` wraps each stage."""
    def with_options(self, wrap: Callable) -> Staged: ...


def as_searcher(model, options: RunOptions | None = None, **changes):
    """An object with `retrieve` and/or `rerank`, built with the run's options: encoders are
    wrapped in a cached `DenseSearch`, retrievers and rerankers in a `CheckedSearch` (what they
    return is checked), and every stage of a pipeline likewise."""
    options = replace(options or RunOptions(), **changes)
    if isinstance(model, Staged):
        return model.with_options(lambda stage: as_searcher(stage, options))
    if isinstance(model, (DenseSearch, CheckedSearch)):
        return model
    if isinstance(model, (Retriever, Reranker)):
        return CheckedSearch(model)
    if isinstance(model, Encoder):
        root = options.cache_dir or default_cache_dir()
        cache = EmbeddingCache(root, embedding_cache_key(model.meta)) if options.use_cache else None
        return DenseSearch(
            TimedEncoder(model), cache=cache, batch_size=options.batch_size, device=options.device, show_progress=options.show_progress
        )
    raise IfirError(f"{type(model).__name__} is not a retriever: it needs encode(), retrieve() or rerank() and a meta.")


@contextmanager
def _query_hint(searcher, method: str) -> Iterator[None]:
    """Around a `retrieve` / `rerank` call: a plugin still written for query strings gets one clear message."""
    try:
        yield
    except (AttributeError, TypeError) as e:
        if not re.search(r"\bQuery\b", str(e)):  # as Python's errors name a Query used as a str: 'Query' object has no ...
            raise
        raise IfirError(
            f"'{searcher.meta.name}'.{method}() failed on a query ({e}): retrievers and rerankers receive "
            f"harness.types.Query objects (text and instruction separate); join them with "
            f"harness.models.protocols.query_texts(self.meta, queries)."
        ) from e


def produce_run(searcher, task: Task, *, top_k: int = DEFAULT_TOP_K) -> Run:
    """The model's run on the task: full retrieval, or candidate reranking where the task has
    candidates. Queries go in as `Query` objects; each searcher applies its own template."""
    queries = task.queries
    if task.candidates is not None:
        if not isinstance(searcher, Reranker):
            raise IfirError(f"'{searcher.meta.name}' cannot rerank candidates, which task '{task.name}' requires.")
        with _query_hint(searcher, "rerank"):
            run = searcher.rerank(task.corpus, queries, {q: task.candidates[q] for q in queries})
        return without_excluded(run, task.excluded)
    if not isinstance(searcher, Retriever):
        raise IfirError(
            f"'{searcher.meta.name}' only reranks; give it a first stage for '{task.name}', e.g. --model 'bm25>>{searcher.meta.spec}'."
        )
    with _query_hint(searcher, "retrieve"):
        run = searcher.retrieve(task.corpus, queries, top_k=top_k + exclusion_depth(task.excluded))
    return without_excluded(run, task.excluded, top_k)
