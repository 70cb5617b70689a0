"""The leak-free split of a pool: held-out probe pairs share no content with anything trained on.

A record's *content* is its query, its two documents and, for a constraint on a named entity, the
name. Probe records are drawn first (a dev part for tuning, a test part reported once), the ones
whose content is rarest in the pool first and the constraint types in turn, so that few training
records are lost; every record that shares any content with a probe record is then left out of
training. `check_disjoint` is the test any set of training rows must pass.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field

from harness.errors import IfirError

DEV, TEST, TRAIN = "dev", "test", "train"


def content(record: dict) -> set[str]:
    """The content keys of a record: query, documents (by id where there is one, else by text) and
    an entity constraint's name."""
    keys = {f"query:{record['query']}"}
    for side in ("positive", "negative"):
        ident = record.get(f"{side}_id")
        keys.add(f"doc:{ident}" if ident else "text:" + hashlib.sha256(record[side].encode()).hexdigest()[:16])
    c = record.get("constraint") or {}
    if c.get("type") == "entity":
        keys.add(f"entity:{(c.get('positive_value') or c.get('negative_value') or '').lower()}")
    return keys


@dataclass
class Split:
    """Record ids per part; `dropped` shared content with the probe and is used nowhere."""

    dev: list[str] = field(default_factory=list)
    test: list[str] = field(default_factory=list)
    train: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    seed: int = 0

    def part(self, record_id: str) -> str | None:
        return self._index.get(record_id)

    def __post_init__(self):
        self._index = {i: name for name in (DEV, TEST, TRAIN) for i in getattr(self, name)}

    def summary(self) -> dict:
        """What a training card records of the split it was trained under."""
        return {"seed": self.seed, "probe_dev": len(self.dev), "probe_test": len(self.test), "train": len(self.train),
                "dropped": len(self.dropped), "digest": self.digest()}

    def digest(self) -> str:
        body = json.dumps({"dev": sorted(self.dev), "test": sorted(self.test), "train": sorted(self.train)}).encode()
        return "sha256:" + hashlib.sha256(body).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {"seed": self.seed, "dev": self.dev, "test": self.test, "train": self.train, "dropped": self.dropped}


def split_pool(records: list[dict], *, probe_size: int = 200, dev_share: float = 0.5, seed: int = 0) -> Split:
    """Hold out about `probe_size` kept records (dev and test parts, disjoint in content from each
    other) and return, as training, every kept record that shares no content with them."""
    kept = [r for r in records if r.get("kept")]
    degree: Counter = Counter(k for r in kept for k in content(r))

    def order_key(r: dict):
        return (max(degree[k] for k in content(r)), hashlib.sha256(f"{seed}\0{r['id']}".encode()).hexdigest())

    by_type: dict[str, list[dict]] = {}
    for r in sorted(kept, key=order_key):
        by_type.setdefault((r.get("constraint") or {}).get("type", "other"), []).append(r)
    targets = {DEV: round(probe_size * dev_share), TEST: probe_size - round(probe_size * dev_share)}
    taken: dict[str, list[str]] = {DEV: [], TEST: []}
    claimed: dict[str, set[str]] = {DEV: set(), TEST: set()}
    for part in (DEV, TEST):
        other = claimed[TEST if part == DEV else DEV]
        queues = {t: list(rs) for t, rs in sorted(by_type.items())}
        while len(taken[part]) < targets[part] and any(queues.values()):
            for t in sorted(queues):  # the types in turn: every type gets probe pairs
                while queues[t]:
                    r = queues[t].pop(0)
                    keys = content(r)
                    if r["id"] in taken[DEV] or keys & other:
                        continue
                    taken[part].append(r["id"])
                    claimed[part] |= keys
                    break
                if len(taken[part]) >= targets[part]:
                    break
    probe_keys = claimed[DEV] | claimed[TEST]
    probe_ids = set(taken[DEV]) | set(taken[TEST])
    train, dropped = [], []
    for r in kept:
        if r["id"] in probe_ids:
            continue
        (dropped if content(r) & probe_keys else train).append(r["id"])
    return Split(dev=taken[DEV], test=taken[TEST], train=train, dropped=dropped, seed=seed)


def check_disjoint(trained: list[dict], held_out: list[dict]) -> None:
    """An error naming the first shared item when any held-out record shares content (query,
    document or entity) with any trained record."""
    seen: dict[str, str] = {}
    for r in trained:
        for k in content(r):
            seen.setdefault(k, r["id"])
    for r in held_out:
        for k in sorted(content(r)):
            if k in seen:
                raise IfirError(f"held-out record {r['id']} shares {k} with training record {seen[k]}: the split leaks.")
