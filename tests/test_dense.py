"""Dense retrieval: embedding cache resume, each text encoded once, hub-id loading from a local
hub cache, and multi-process encoding (the multi-GPU path, run here on two CPU processes)."""

import shutil

import numpy as np
import pytest

from harness.cache import EmbeddingCache
from harness.errors import IfirError
from harness.models import load_model
from harness.models.dense import bundled_minilm_path
from harness.search import DenseSearch
from harness.tasks import load_task


class Interrupting:
    """Wraps an encoder and raises after `fail_after` calls, as a killed run would stop."""

    def __init__(self, inner, fail_after):
        self.inner, self.meta, self.calls, self.fail_after, self.encoded = inner, inner.meta, 0, fail_after, 0

    def encode(self, texts, *, kind, batch_size, show_progress=False):
        if self.calls == self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        self.encoded += len(texts)
        return self.inner.encode(texts, kind=kind, batch_size=batch_size)


def test_interrupted_encoding_resumes_from_cache(minilm, cache_dir):
    """An interrupt (Ctrl-C) keeps every finished batch; the re-run encodes only the rest."""
    task = load_task("sample")
    texts = [minilm.meta.format_doc(d) for d in task.corpus.values()]
    enc = Interrupting(minilm, fail_after=2)
    with pytest.raises(KeyboardInterrupt):
        DenseSearch(enc, cache=EmbeddingCache(cache_dir, "minilm-test"), batch_size=32, show_progress=False).embed(texts, "document")
    assert enc.encoded == 64

    enc2 = Interrupting(minilm, fail_after=-1)
    search = DenseSearch(enc2, cache=EmbeddingCache(cache_dir, "minilm-test"), batch_size=32, show_progress=False)
    emb = search.embed(texts, "document")
    assert enc2.encoded == len(texts) - 64  # only what the interrupted run had not finished
    assert enc2.calls == -(-(len(texts) - 64) // 32)  # one call per batch: the progress bar moves per batch
    direct = minilm.encode(texts, kind="document", batch_size=32)
    direct /= np.linalg.norm(direct, axis=1, keepdims=True)  # cosine model: stored normalised
    np.testing.assert_allclose(emb.take(slice(None)).numpy(), direct, atol=1e-5)


def test_each_text_encoded_once(minilm):
    enc = Interrupting(minilm, fail_after=-1)
    search = DenseSearch(enc, cache=None, show_progress=False)
    search.embed(["a cat", "a dog", "a cat", "a cat"], "query")
    assert enc.encoded == 2


def test_hub_id_loads_from_local_hub_cache(tmp_path, monkeypatch):
    """The real hub-loading code, on a copy of the bundled model in the hub cache's own layout."""
    sha = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--acme--tiny-minilm"
    shutil.copytree(bundled_minilm_path(), repo / "snapshots" / sha)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(sha)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    model = load_model("acme/tiny-minilm")
    assert model.meta.name == "acme/tiny-minilm" and model.meta.revision == sha
    assert model.encode(["hello"], kind="query", batch_size=1).shape == (1, 384)
    with pytest.raises(IfirError, match="not in the local cache and the hub is offline"):
        load_model("acme/absent-model")


def test_multi_process_encoding_matches_single_process(minilm):
    texts = [f"passage number {i} about retrieval" for i in range(40)]
    multi = load_model("minilm", device="cpu,cpu")
    try:
        out = multi.encode(texts, kind="document", batch_size=8)
    finally:
        multi.close()
    np.testing.assert_allclose(out, minilm.encode(texts, kind="document", batch_size=8), atol=1e-5)
