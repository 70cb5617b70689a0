"""In-domain instruction sensitivity on held-out pairs: kept pool records no model of the experiment
trained on, scored with the encoder as evaluation scores (query joined with the instruction by the
harness's template; documents as the harness builds them).

A pair counts as followed when the encoder prefers the positive under the instruction *and* the
negative under the complement (both views); `original_view` and `complement_view` count each alone.
This says whether a model learned to read the kind of instruction it was trained on, separately
from whether that skill transfers to other instruction styles (the evaluation tasks).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from harness.fileio import atomic_write_json

from dualview_trainer.pairing import anchor


def held_out(records: list[dict], used: set[str], limit: int = 200) -> list[dict]:
    """Kept records whose id is not in `used` (the records any trained model drew), in file order."""
    return [r for r in records if r.get("kept") and r["id"] not in used][:limit]


def swap_accuracy(encoder, records: list[dict], *, batch_size: int = 32) -> dict:
    """Shares of `records` whose views the encoder gets right (cosine of normalized vectors)."""
    texts_q = [anchor(r["query"], r[k]) for r in records for k in ("instruction", "complement")]
    texts_d = [r[k] for r in records for k in ("positive", "negative")]
    q = encoder.encode(texts_q, kind="query", batch_size=batch_size).reshape(len(records), 2, -1)
    d = encoder.encode(texts_d, kind="document", batch_size=batch_size).reshape(len(records), 2, -1)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    d = d / np.linalg.norm(d, axis=-1, keepdims=True)
    s = np.einsum("nvk,ndk->nvd", q, d)  # [pair, view (instruction, complement), doc (positive, negative)]
    original = s[:, 0, 0] > s[:, 0, 1]
    complement = s[:, 1, 1] > s[:, 1, 0]
    return {"n": len(records), "both_views": float(np.mean(original & complement)),
            "original_view": float(np.mean(original)), "complement_view": float(np.mean(complement)),
            "per_pair": [int(x) for x in (original & complement)]}


def probe_models(out: Path, models: list[tuple[str, str]], records: list[dict], used: set[str], *, batch_size: int = 32) -> dict:
    """`{label: swap_accuracy}` for (label, model spec) pairs, cached in `out/probe/<label>.json`
    (keyed by the held-out ids, so a changed pool recomputes)."""
    from harness.models import load_model

    pairs = held_out(records, used)
    ids = [r["id"] for r in pairs]
    results = {}
    for label, spec in models:
        path = Path(out) / "probe" / f"{label}.json"
        if path.is_file():
            cached = json.loads(path.read_text(encoding="utf-8"))
            if cached.get("ids") == ids:
                results[label] = cached["accuracy"]
                continue
        model = load_model(spec, batch_size=batch_size)
        acc = swap_accuracy(model, pairs, batch_size=batch_size)
        atomic_write_json(path, {"ids": ids, "accuracy": acc})
        results[label] = acc
    return results
