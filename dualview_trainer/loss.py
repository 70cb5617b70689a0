"""CachedMultipleNegativesRankingLoss (GradCache) that ignores in-batch copies of a row's own
documents coming from the other view of the same pair.

In a dual-view pair, view B's hard negative is view A's positive (and B's positive is A's hard
negative). Left in the softmax, A's own positive would also count as one of its negatives: a false
negative that caps the loss at log 2 and cancels part of the gradient. So, for each anchor, the
positive and negative columns of *other rows of its group* are masked out; its own positive, its
own hard negative and every other group's documents stay. Rows of different groups never share a
text (PairBatchSampler, below), so the mask removes exactly the copies.
"""

from __future__ import annotations

import torch
from sentence_transformers.base.sampler import DefaultBatchSampler
from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss

from harness.errors import IfirError


class OnePass:
    """Where every column of a batch fits in one mini-batch, GradCache's extra embedding pass buys
    no memory: embed with gradients and take the same loss directly (GradCache is exact, so the
    loss and its gradients are the same; a test checks it). Larger batches take the cached path."""

    def forward(self, sentence_features, labels=None):
        features = list(sentence_features)
        rows = max(next(iter(f.values())).shape[0] for f in features)
        if rows > self.mini_batch_size or not torch.is_grad_enabled():
            return super().forward(features, labels)
        reps = [[self.model(f)["sentence_embedding"]] for f in features]
        return self.calculate_loss(reps, labels)


class CachedMNRL(OnePass, CachedMultipleNegativesRankingLoss):
    """sentence-transformers' CachedMultipleNegativesRankingLoss, unmasked (the ablation)."""


class PairAwareCachedMNRL(OnePass, CachedMultipleNegativesRankingLoss):
    """Query-to-document InfoNCE over (anchor, positive, negative) with GradCache; `labels` are group ids."""

    def calculate_loss(self, reps, labels=None, *, with_backward: bool = False):
        if self.gather_across_devices:
            raise IfirError("The pair-aware loss cannot gather across devices (the sibling mask is per device): "
                            "leave gather_across_devices off; each GPU draws whole batches.")
        if tuple(self.directions) != ("query_to_doc",):
            raise IfirError(f"The pair-aware loss supports directions ('query_to_doc',) only, not {tuple(self.directions)}.")
        if labels is None:
            raise IfirError("The pair-aware loss needs each row's pair id in a 'label' column; without it no mask applies.")
        queries = torch.cat(reps[0])
        docs = [torch.cat(r) for r in reps[1:]]
        docs_all = torch.cat(docs, dim=0)
        batch_size = len(queries)
        groups = labels.to(queries.device).view(-1)
        idx = torch.arange(batch_size, device=queries.device)
        sibling = (groups[:, None] == groups[None, :]) & (idx[:, None] != idx[None, :])
        mask = sibling.repeat(1, len(docs))
        losses = []
        for begin in range(0, batch_size, self.mini_batch_size):
            end = min(begin + self.mini_batch_size, batch_size)
            rows = idx[begin:end]
            scores = self.similarity_fct(queries[rows], docs_all) * self.scale
            scores = scores.masked_fill(mask[rows], -torch.inf)
            loss = torch.nn.functional.cross_entropy(scores, rows, reduction="sum") / batch_size
            if with_backward:
                loss.backward()
                loss = loss.detach()
            losses.append(loss)
        return sum(losses)


def make_loss(model, training) -> CachedMultipleNegativesRankingLoss:
    """The loss `training.loss` names (a `TrainingConfig`): `pair-aware` (default) or `mnrl`, the
    unmasked CachedMultipleNegativesRankingLoss that keeps the other view's copies as negatives."""
    cls = PairAwareCachedMNRL if training.loss == "pair-aware" else CachedMNRL
    return cls(model, mini_batch_size=training.mini_batch_size, scale=training.scale)


class PairBatchSampler(DefaultBatchSampler):
    """Batches of whole groups (the rows sharing a `label`), groups shuffled per epoch.

    A group joins a batch only if none of its texts already appears there from another group
    (NO_DUPLICATES across groups); inside a group the two views share their documents by design,
    which the loss handles (PairAwareCachedMNRL, above). Deterministic in (seed, epoch), so resuming skips the
    right batches."""

    def __init__(self, dataset, batch_size: int, drop_last: bool, valid_label_columns=None, generator=None, seed: int = 0):
        super().__init__(dataset, batch_size=batch_size, drop_last=drop_last, valid_label_columns=valid_label_columns,
                         generator=generator, seed=seed)
        labels = dataset["label"]
        texts = [dataset[c] for c in dataset.column_names if c != "label"]
        self.groups: dict[int, list[int]] = {}
        for i, g in enumerate(labels):
            self.groups.setdefault(int(g), []).append(i)
        self.texts = {g: {t[i] for t in texts for i in idx} for g, idx in self.groups.items()}
        if max(len(v) for v in self.groups.values()) > batch_size:
            raise IfirError(f"batch size {batch_size} is smaller than a pair: use at least 2.")

    def batches(self) -> list[list[int]]:
        order = list(self.groups)
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        order = [order[i] for i in torch.randperm(len(order), generator=gen).tolist()]
        out: list[list[int]] = []
        pending = order
        while pending:
            batch, seen, later = [], set(), []
            for g in pending:
                rows = self.groups[g]
                if len(batch) + len(rows) > self.batch_size or seen & self.texts[g]:
                    later.append(g)
                    continue
                batch += rows
                seen |= self.texts[g]
            out.append(batch)
            pending = later
        if self.drop_last and out and len(out[-1]) < self.batch_size:
            out.pop()
        return out

    def __iter__(self):
        yield from self.batches()

    def __len__(self) -> int:
        return len(self.batches())
