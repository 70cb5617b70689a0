"""The embedding store and chunked exact search: damaged shards re-encoded, kill -9 keeps committed
shards, one store per text set, cosine rows stored normalised, ties cut by the ranking rule across
chunks, and long texts cut before tokenizing without changing what the model reads."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

from harness.cache import EmbeddingCache
from harness.models.protocols import ModelMeta
from harness.ranking import top_k
from harness.search import DenseSearch, cut
from harness.tasks import load_task
from harness.types import Document

VOCAB = ["cat", "dog", "bird", "fish", "tree", "car"]


class WordCounts:
    """An encoder whose vectors are word counts over a tiny vocabulary: small integers, so every dot
    product is exact and equal texts tie exactly, whatever the chunking."""

    encoded = 0

    def __init__(self, similarity: str = "dot", **extra):
        self.meta = ModelMeta(name="word-counts", revision="1", kind="dense", extra={"similarity": similarity, **extra})
        self.calls = 0
        self.lengths: list[int] = []

    def encode(self, texts, *, kind, batch_size, show_progress=False):
        self.calls += 1
        WordCounts.encoded += len(texts)
        self.lengths += [len(t) for t in texts]
        return np.array([[t.split().count(w) for w in VOCAB] for t in texts], dtype=np.float32)


def texts(n: int) -> list[str]:
    rng = np.random.default_rng(0)
    return [" ".join(rng.choice(VOCAB, size=rng.integers(1, 6))) + f" n{i}" for i in range(n)]


def store_dir(cache_dir: Path) -> Path:
    (folder,) = (cache_dir / "embeddings" / "word-counts").iterdir()
    return folder


def embed(cache_dir, items, **kw):
    enc = WordCounts()
    search = DenseSearch(enc, cache=EmbeddingCache(cache_dir, "word-counts"), show_progress=False, **kw)
    return enc, search.embed(items, "document")


def test_chunked_search_cuts_ties_by_the_ranking_rule(tmp_path):
    """Many equal documents straddle chunk borders and the top-k cut: every chunk size gives the
    ranking of the whole score table under the harness's rule (score, then doc id)."""
    docs = {f"d{i:02d}": t for i, t in enumerate(texts(60) + ["cat dog"] * 12)}
    corpus = {d: Document(d, t) for d, t in docs.items()}
    queries = {"q1": "cat dog", "q2": "tree", "q3": "car car fish"}
    enc = WordCounts()
    vec = {d: np.array([t.split().count(w) for w in VOCAB], dtype=np.int64) for d, t in docs.items()}
    for q, text in queries.items():
        qv = np.array([text.split().count(w) for w in VOCAB], dtype=np.int64)
        expected = top_k({d: float(vec[d] @ qv) for d in docs}, 9)
        for chunk in (4, 7, 1000):
            search = DenseSearch(enc, cache=None, search_chunk=chunk, batch_size=8, show_progress=False)
            run = search.retrieve(corpus, queries, top_k=9)
            assert list(run[q].items()) == list(expected.items()), (q, chunk)


def test_damaged_shards_are_encoded_again(tmp_path, capsys):
    """A shard cut short by 4 bytes, a changed byte, or an unreadable manifest: only the damaged
    shards (and those after) are encoded again, and the vectors equal a fresh encoding."""
    items = texts(100)
    WordCounts.encoded = 0
    _, fresh = embed(tmp_path / "a", items, batch_size=8, shard_rows=32)
    assert WordCounts.encoded == 100
    folder = store_dir(tmp_path / "a")
    vectors = folder / "vectors.f32"
    expected = fresh.take(slice(None)).numpy()

    def again():
        WordCounts.encoded = 0
        _, emb = embed(tmp_path / "a", items, batch_size=8, shard_rows=32)
        np.testing.assert_array_equal(emb.take(slice(None)).numpy(), expected)
        return WordCounts.encoded

    # shards end at rows 32, 64, 96 (batches of 8 committed past 32 rows) and 100 (the remainder)
    with open(vectors, "r+b") as f:
        f.truncate(os.path.getsize(vectors) - 4)
    assert again() == 4
    assert "1 of 4 shards are damaged or cut short; encoding their texts again." in capsys.readouterr().err
    data = bytearray(vectors.read_bytes())
    data[40 * 6 * 4] ^= 0xFF  # a byte of row 40, in the second shard
    vectors.write_bytes(bytes(data))
    assert again() == 100 - 32
    (folder / "manifest.json").write_text("{not json")
    assert again() == 100
    assert again() == 0


def test_kill_9_keeps_committed_shards(tmp_path):
    """A process killed mid-encoding (SIGKILL: no clean-up runs) keeps every committed shard."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_cache import WordCounts, texts
        from harness.cache import EmbeddingCache
        from harness.search import DenseSearch

        class Dies(WordCounts):
            def encode(self, batch, **kw):
                if self.calls == 4:
                    os.kill(os.getpid(), signal.SIGKILL)
                return super().encode(batch, **kw)

        DenseSearch(Dies(), cache=EmbeddingCache({str(tmp_path)!r}, "word-counts"), batch_size=5, shard_rows=10,
                    show_progress=False).embed(texts(100), "document")
    """)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    WordCounts.encoded = 0
    embed(tmp_path, texts(100), batch_size=5)
    assert WordCounts.encoded == 80  # batches 1-4 were committed in two shards of 10; batch 5 was lost


def test_one_store_per_text_set_read_alone(tmp_path):
    """Each corpus has its own store; a task never reads (or needs) another corpus's vectors."""
    a, b = texts(30), [f"{t} tree" for t in texts(30)]
    embed(tmp_path, a)
    first = set((tmp_path / "embeddings" / "word-counts").iterdir())
    embed(tmp_path, b)
    (other,) = set((tmp_path / "embeddings" / "word-counts").iterdir()) - first
    (other / "vectors.f32").unlink()
    WordCounts.encoded = 0
    embed(tmp_path, a[::-1] + a[:5])  # same texts, any order, repeats: the same store
    assert WordCounts.encoded == 0


def test_cosine_rows_are_stored_normalised_and_memory_mapped(tmp_path):
    enc = WordCounts(similarity="cosine")
    emb = DenseSearch(enc, cache=EmbeddingCache(tmp_path, "word-counts"), show_progress=False).embed(texts(20), "document")
    assert isinstance(emb.matrix, np.memmap)
    np.testing.assert_allclose(np.linalg.norm(emb.matrix, axis=1), 1.0, rtol=1e-6)


def test_long_texts_are_cut_before_tokenizing_without_changing_the_input(minilm, shared_data):
    """The model's own tokenizer reads the same first tokens from the cut text as from the whole:
    prose, words between long runs of spaces, and a giant word up front."""
    task = load_task(str(shared_data / "scifact"))
    prose = " ".join(d.text for d in list(task.corpus.values())[:300])
    spaced = (" " * 60).join(prose.split()[:2000])
    giant = "x" * 100_000 + " " + prose
    model = minilm.model
    n = model.max_seq_length
    for text in (prose, spaced, giant):
        kept = cut(text, n)
        assert len(kept) < len(text)
        assert model.tokenize([kept])["input_ids"].tolist() == model.tokenize([text])["input_ids"].tolist()
    assert len(cut(prose, n)) < 20 * n + 100
    np.testing.assert_allclose(
        minilm.encode([cut(prose, n)], kind="document", batch_size=1), minilm.encode([prose], kind="document", batch_size=1), atol=1e-6
    )


def test_a_50_mb_document_reaches_the_encoder_cut(tmp_path):
    enc = WordCounts(max_seq_length=256)
    huge = "cat dog bird " * 4_000_000  # 52 MB
    DenseSearch(enc, cache=None, show_progress=False).embed([huge, "cat"], "document")
    assert max(enc.lengths) <= 20 * 256 + 10


class WordCountsPlugin(WordCounts):
    """The same encoder as a `--model module:attr` plugin."""

    def __init__(self):
        super().__init__()


def test_damaged_shard_through_the_cli_is_reported_and_recovered(tmp_path):
    """A shard cut short by 4 bytes (zipfile.BadZipFile in the old cache): the next run says so in
    one line, re-encodes that shard only, and scores exactly as before."""
    import json

    from click.testing import CliRunner

    from harness.cli import main

    def run(out, expect=""):
        args = ["run", "--model", "test_cache:WordCountsPlugin", "--tasks", "sample", "--batch-size", "100",
                "--cache-dir", str(tmp_path / "cache"), "--output", str(tmp_path / out)]  # fmt: skip
        result = CliRunner().invoke(main, args, env={"COLUMNS": "80", "HF_HUB_OFFLINE": "1"}, catch_exceptions=False)
        assert result.exit_code == 0 and expect in result.output, result.output
        (path,) = [p for p in (tmp_path / out).rglob("*.json")]
        return json.loads(path.read_text())["metrics"]

    WordCounts.encoded = 0
    first = run("a")
    stores = sorted((tmp_path / "cache" / "embeddings").glob("*/*/vectors.f32"), key=os.path.getsize)
    documents = stores[-1]  # the largest store holds the documents
    assert WordCounts.encoded > 100
    with open(documents, "r+b") as f:
        f.truncate(os.path.getsize(documents) - 4)
    WordCounts.encoded = 0
    store = documents.parent
    assert run("b", expect=f"warning: embedding store {store}: 1 of 1 shards are damaged or cut short; encoding their texts again.") == first
    assert WordCounts.encoded == json.loads((documents.parent / "manifest.json").read_text())["rows"]  # that store only
