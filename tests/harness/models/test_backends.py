"""CPU inference backends: the bundled MiniLM exported once to OpenVINO (float and int8 weights)
encodes within tolerance of torch, records its backend, and is reused from the cache; wrong
combinations fail in one sentence. The export tests need `pip install 'ifir-bench[cpu]'`."""

import importlib.util

import numpy as np
import pytest

from harness.errors import IfirError
from harness.models import load_model

TEXTS = [
    "Aspirin lowers the risk of a first heart attack in adults over fifty.",
    "Vitamin D supplements do not prevent fractures in older people.",
    "what causes the seasons on earth",
    "BRCA1 mutations raise the lifetime risk of breast cancer.",
]
needs_openvino = pytest.mark.skipif(
    importlib.util.find_spec("optimum") is None or importlib.util.find_spec("optimum.intel") is None,
    reason="the OpenVINO backend needs pip install 'ifir-bench[cpu]'",
)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@needs_openvino
@pytest.mark.parametrize("quantize, min_cosine", [(None, 0.999), ("int8", 0.99)])
def test_openvino_encodes_like_torch(minilm, tmp_path, quantize, min_cosine):
    model = load_model("minilm", backend="openvino", quantize=quantize, cache_dir=tmp_path)
    assert model.meta.extra["backend"] == "openvino" and model.meta.extra.get("quantize") == quantize
    exported = model.meta.extra["exported_to"]
    assert exported.startswith(str(tmp_path / "backends"))
    out = model.encode(TEXTS, kind="document", batch_size=2)
    reference = minilm.encode(TEXTS, kind="document", batch_size=2)
    assert _cosines(out, reference).min() >= min_cosine
    # the ranking of a query against the documents is torch's
    q = load_model("minilm", backend="openvino", quantize=quantize, cache_dir=tmp_path)
    assert q.meta.extra["exported_to"] == exported  # exported once, then loaded from the cache
    order = np.argsort(-out @ q.encode(["heart attack prevention"], kind="query", batch_size=1)[0])
    assert list(order) == list(np.argsort(-reference @ minilm.encode(["heart attack prevention"], kind="query", batch_size=1)[0]))


@needs_openvino
def test_int8_weights_are_smaller_than_float(tmp_path):
    floats = load_model("minilm", backend="openvino", cache_dir=tmp_path).meta.extra["exported_to"]
    int8 = load_model("minilm", backend="openvino", quantize="int8", cache_dir=tmp_path).meta.extra["exported_to"]
    size = {p: sum(f.stat().st_size for f in __import__("pathlib").Path(p, "openvino").glob("*.bin")) for p in (floats, int8)}
    assert size[int8] < 0.4 * size[floats]


def test_backend_settings_enter_the_embedding_cache_key(minilm, tmp_path):
    from harness.search import as_searcher

    torch_key = as_searcher(minilm, cache_dir=tmp_path).cache.dir
    minilm.meta.extra["backend"], minilm.meta.extra["quantize"] = "openvino", "int8"
    try:
        assert as_searcher(minilm, cache_dir=tmp_path).cache.dir != torch_key
    finally:
        minilm.meta.extra["backend"] = "torch"
        del minilm.meta.extra["quantize"]


def test_quantize_needs_a_cpu_backend():
    with pytest.raises(IfirError, match="needs --backend onnx or --backend openvino"):
        load_model("minilm", quantize="int8")


def test_backend_on_a_model_that_cannot_take_it_is_refused(shared_data):
    from click.testing import CliRunner

    from harness.cli import main

    result = CliRunner().invoke(main, ["run", "--model", "bm25", "--tasks", "sample", "--backend", "openvino"])
    assert result.exit_code == 2 and "apply to sentence-transformers encoders, not to 'bm25'" in result.output


@pytest.mark.skipif(importlib.util.find_spec("optimum") is not None and importlib.util.find_spec("optimum.onnxruntime") is not None, reason="optimum-onnx is installed")
def test_missing_backend_package_is_one_clear_sentence(tmp_path):
    with pytest.raises(IfirError, match=r"--backend onnx needs optimum-onnx .* use --backend openvino"):
        load_model("minilm", backend="onnx", quantize="int8", cache_dir=tmp_path)
