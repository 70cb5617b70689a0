"""The `rules` backend: instructions written around one checkable attribute on which the positive
and the hard negative differ (no LLM), and the detectors that verify any backend's swap.

Detectors read only the part of each document the encoder reads while training (`token_window`),
so every constraint lies inside the training text. For each example the attributes of both
documents are detected, one constraint on which they differ is drawn under the seed (rarer types
weigh more), and the instruction / complement pair is written with the same template and the
polarity (or the two values) reversed. Whether the labels swap is then checked by reading the
written text back (`constraints.swap_reason`), the same check an LLM's output goes through.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Iterable

from dualview_trainer import constraints as C
from dualview_trainer.examples import Example


def token_window(tokenizer, max_tokens: int) -> Callable[[str], str]:
    """The prefix of a text that `max_tokens` tokens of `tokenizer` cover (two kept for the special
    tokens), found from the tokenizer's character offsets."""

    @functools.lru_cache(maxsize=1 << 16)
    def cut(text: str) -> str:
        enc = tokenizer(text, add_special_tokens=False, truncation=True, max_length=max(max_tokens - 2, 1),
                        return_offsets_mapping=True)
        offsets = enc["offset_mapping"]
        return text[: offsets[-1][1]] if offsets else ""

    return cut


class Detectors:
    """Attribute detection over what the encoder reads of each document, with the document
    frequencies of names taken from `documents` (the corpus)."""

    def __init__(self, documents: Iterable[str], *, window: Callable[[str], str], types: Iterable[str] = (), window_size: int = 0):
        self.window = window
        self.window_size = window_size
        self.types = tuple(types) or C.TYPE_NAMES
        unknown = sorted(set(self.types) - set(C.TYPE_NAMES))
        if unknown:
            from harness.errors import IfirError

            raise IfirError(f"[synthesis] constraint_types: unknown type '{unknown[0]}' (known: {', '.join(C.TYPE_NAMES)}).")
        self.entities = C.EntityIndex(window(d) for d in documents) if "entity" in self.types else None

        self._attributes: dict[str, C.Attributes] = {}

    def attributes(self, document: str) -> C.Attributes:
        """What the detectors find in the part of `document` the encoder reads (kept per text: a
        positive recurs with each of its negatives)."""
        if document not in self._attributes:
            found = C.detect(self.window(document), self.entities)
            self._attributes[document] = {t: v for t, v in found.items() if t in self.types}
        return self._attributes[document]

    def options(self, ex: Example) -> list[C.Constraint]:
        """Constraints on which the example's documents differ; a name the query itself uses is no constraint."""
        out = C.differences(self.attributes(ex.positive), self.attributes(ex.negative), self.types)
        return [c for c in out if c.type != "entity" or not C.has(ex.query, "entity", c.a or c.b)]

    def verify(self, instruction: str, complement: str, ex: Example) -> str | None:
        return C.swap_reason(instruction, complement, self.window(ex.positive), self.window(ex.negative))

    def describe(self) -> dict:
        return {"types": list(self.types), "window_tokens": self.window_size}


def rules_hash() -> str:
    """The rules backend's counterpart of a prompt hash: its templates, phrases and weights."""
    spec = {"templates": [C.INCLUDE, C.EXCLUDE, C.BOTH, C.ENTITY_INCLUDE, C.ENTITY_EXCLUDE], "weights": C.TYPE_WEIGHTS,
            "category_share": C.CATEGORY_SHARE,
            "values": {t.name: {v.name: [v.detect.pattern, v.read.pattern, list(v.phrases)] for v in t.values} for t in C.TYPES},
            "entity": C.ENTITY.pattern}
    return "sha256:" + hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]


class RuleSynthesizer:
    """Writes (instruction, complement) around one attribute the two documents differ in;
    deterministic under `seed`."""

    backend = "rules"

    def __init__(self, detectors: Detectors, *, seed: int = 0):
        self.detectors = detectors
        self.seed = seed

    def describe(self) -> dict:
        return {"backend": self.backend, "model": "attribute-detectors", **self.detectors.describe()}

    def write(self, ex: Example) -> tuple[str, str, dict] | None:
        options = self.detectors.options(ex)
        if not options:
            return None
        rng = C.example_rng(self.seed, ex.id)
        chosen = C.choose(options, rng)
        instruction, complement = C.write(chosen, rng)
        return instruction, complement, chosen.to_dict()
