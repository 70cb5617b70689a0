"""Model specs: registered names, module:attr targets, entry-point plugins, near-match errors."""

from importlib.metadata import EntryPoint

import pytest

from harness.errors import IfirError
from harness.models import registry
from harness.models.protocols import ModelMeta


class ConstantRetriever:
    """A plugin-style retriever that scores every candidate the same."""

    def __init__(self, batch_size: int = 1):
        self.batch_size = batch_size
        self.meta = ModelMeta(name="constant", revision="1", kind="test")

    def rerank(self, corpus, queries, candidates):
        return {q: {d: 0.0 for d in candidates[q]} for q in queries}


def test_module_attr_target_gets_only_the_options_it_takes():
    model = registry.load_model("tests.harness.models.test_model_registry:ConstantRetriever", batch_size=7, device="cpu")
    assert type(model).__name__ == "ConstantRetriever" and model.batch_size == 7


def test_entry_point_plugin(monkeypatch):
    reg = registry.Registry("ifir_bench.test")
    ep = EntryPoint(name="const", value="tests.harness.models.test_model_registry:ConstantRetriever", group="ifir_bench.test")
    monkeypatch.setattr(registry, "entry_points", lambda group: [ep] if group == "ifir_bench.test" else [])
    assert "const" in reg.names()
    assert reg.get("const").__name__ == "ConstantRetriever"


def test_duplicate_names_are_refused():
    reg = registry.Registry("x")
    reg.register("a", ConstantRetriever)
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", ConstantRetriever)


def test_unknown_name_suggests_near_matches():
    with pytest.raises(IfirError, match="Did you mean 'minilm'"):
        registry.load_model("minlm")


def test_constant_scorer_gets_zero_p_mrr_and_no_free_score():
    """A constant scorer must not look like it follows instructions (mteb #5092)."""
    from harness.runner import evaluate
    from harness.tasks import load_task

    task = load_task("sample")
    result, run = evaluate(ConstantRetriever(), task)
    assert result["metrics"]["p-MRR"] == 0.0
    # ranks fall back to doc id order, which the sample's ids do not correlate with relevance
    assert result["metrics"]["og"]["nDCG@5"] < 0.6
