"""A tiny cross-encoder for the reranker tests: the bundled MiniLM with a fresh one-score head, trained
a few steps on SciFact's train split (no reranker weights ship on PyPI). Trained once per session."""

from __future__ import annotations

import atexit
import functools
import random
import shutil
import tempfile
from pathlib import Path

from harness.data.local import read_corpus, read_qrels, read_queries
from harness.models.dense import bundled_minilm_path


@functools.cache
def tiny_cross_encoder(scifact: Path, steps: int = 10, batch: int = 8, max_length: int = 64) -> str:
    """Folder of a MiniLM cross-encoder trained on (claim, cited abstract) vs (claim, random abstract);
    short pairs and few steps keep this to seconds on 2 cores: it tests plumbing, not quality."""
    import torch
    from sentence_transformers import CrossEncoder

    corpus, queries = read_corpus(scifact / "corpus.jsonl"), read_queries(scifact / "queries.jsonl")
    qrels = read_qrels(scifact / "qrels" / "train.tsv")
    positives = [(queries[q].text, corpus[d]) for q, docs in qrels.items() for d, rel in docs.items() if rel > 0]
    rng, doc_ids = random.Random(0), sorted(corpus)
    torch.manual_seed(0)
    model = CrossEncoder(bundled_minilm_path(), num_labels=1, max_length=max_length)
    optimizer = torch.optim.AdamW(model.model.parameters(), lr=5e-5)
    model.model.train()
    for _ in range(steps):
        pos = rng.sample(positives, batch // 2)
        neg = [(q, corpus[rng.choice(doc_ids)]) for q, _ in pos]
        pairs = [(q, f"{d.title} {d.text}") for q, d in pos + neg]
        features = model.tokenizer(*zip(*pairs), truncation=True, max_length=max_length, padding=True, return_tensors="pt")
        logits = model.model(**features).logits.squeeze(-1)
        labels = torch.tensor([1.0] * len(pos) + [0.0] * len(neg))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.model.eval()
    folder = tempfile.mkdtemp(prefix="ifir-tiny-ce-")
    atexit.register(shutil.rmtree, folder, True)
    model.save(folder)
    return folder
