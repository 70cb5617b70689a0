"""A cross-encoder made offline from what ships: the bundled MiniLM with a fresh one-score head, trained
on a BEIR folder's train split (query, judged relevant document) against (query, random document).
No reranker weights ship on PyPI; this gives a real (if small) one for `bm25>>cross-encoder:FOLDER`:

    python -m baselines.cross_encoder_training --source ../shared/data/scifact --out runs/minilm-ce
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import click

from harness.console import error, say
from harness.data.local import read_corpus, read_qrels, read_queries
from harness.errors import IfirError
from harness.progress import progress


READ_LENGTH = 512
"""Tokens of (query with instruction, document) the saved model reads when it reranks: MiniLM's
limit. Training reads fewer (`max_length`, for speed); the saved model must not, or a long
instruction is cut before the words that differ between two instructions and both score alike."""


def train_cross_encoder(source: Path, out: Path, *, steps: int = 50, batch: int = 8, max_length: int = 64,
                        show_progress: bool = False) -> Path:
    """Train and save the cross-encoder in `out`; the same arguments give the same weights (seed 0).
    Training reads `max_length` tokens of each pair; the saved model reads `READ_LENGTH`."""
    import torch
    from sentence_transformers import CrossEncoder

    from harness.models.dense import bundled_minilm_path

    source = Path(source)
    if not (source / "qrels" / "train.tsv").is_file():
        raise IfirError(f"{source}: no qrels/train.tsv; the cross-encoder trains on a BEIR folder's train split.")
    corpus, queries = read_corpus(source / "corpus.jsonl"), read_queries(source / "queries.jsonl")
    qrels = read_qrels(source / "qrels" / "train.tsv")
    positives = [(queries[q].text, corpus[d]) for q, docs in qrels.items() for d, rel in docs.items() if rel > 0 and d in corpus]
    rng, doc_ids = random.Random(0), sorted(corpus)
    torch.manual_seed(0)
    model = CrossEncoder(bundled_minilm_path(), num_labels=1, max_length=READ_LENGTH)
    optimizer = torch.optim.AdamW(model.model.parameters(), lr=5e-5)
    model.model.train()
    with progress(show_progress) as bar:
        job = bar.add_task("training the cross-encoder (steps)", total=steps)
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
            bar.advance(job)
    model.model.eval()
    model.save(str(out))
    return Path(out)


@click.command()
@click.option("--source", type=click.Path(path_type=Path), required=True, help="A BEIR folder with qrels/train.tsv.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the cross-encoder.")
@click.option("--steps", type=click.IntRange(1), default=50, show_default=True, help="Training steps.")
@click.option("--batch-size", type=click.IntRange(2), default=8, show_default=True, help="Pairs per step, half relevant, half random.")
@click.option("--max-length", type=click.IntRange(8), default=64, show_default=True,
              help=f"Tokens of (query, document) read in training (the saved model reads {READ_LENGTH}).")
def main(source, out, steps, batch_size, max_length):
    """Train a MiniLM cross-encoder offline on SOURCE's train split and save it in OUT."""
    import logging

    from harness.console import quiet_libraries

    quiet_libraries()
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)  # "Converting SentenceTransformer model ..."
    try:
        train_cross_encoder(source, out, steps=steps, batch=batch_size, max_length=max_length, show_progress=True)
    except IfirError as e:
        error(str(e))
        sys.exit(2)
    say(f"wrote {out}; rerank with it: ifir-bench run --model 'bm25>>cross-encoder:{out}' --tasks ...")


if __name__ == "__main__":
    main()
