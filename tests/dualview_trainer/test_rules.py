"""Instruction negatives, the rules backend, the leak-free split, the mixes and controls, and the
seed-level statistics of the matched-budget experiment, on real SciFact data."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from harness.errors import IfirError
from harness.metrics.significance import holm, seed_test

from dualview_trainer import constraints as C
from dualview_trainer.examples import from_beir
from dualview_trainer.mining import ContentTerms
from dualview_trainer.pairing import CONTRAST, EXAMPLES_PER_QUERY, SHUFFLED, build_rows, derangement
from dualview_trainer.split import check_disjoint, content, split_pool


@pytest.fixture(scope="module")
def scifact_examples(shared_data):
    return from_beir(shared_data / "scifact", limit=400, seed=0, depth=30, negatives_per_query=4)


@pytest.fixture(scope="module")
def rules_records(shared_data, scifact_examples, tmp_path_factory):
    from dualview_trainer.config import load_config
    from dualview_trainer.job import JobOptions, build_synthesizer
    from dualview_trainer.synthesis import synthesize

    cfg = load_config("cpu")
    docs = [e.positive for e in scifact_examples] + [e.negative for e in scifact_examples]
    synth = build_synthesizer(cfg, JobOptions(source=str(shared_data / "scifact"), out=tmp_path_factory.mktemp("pool")), docs)
    records, _ = synthesize(scifact_examples, synth, tmp_path_factory.mktemp("syn") / "synthesis.jsonl")
    return records, synth


# --- instruction negatives ---------------------------------------------------------------------

def test_negatives_match_the_query_and_the_check_is_recorded(shared_data, scifact_examples):
    """Every negative shares at least two content terms with its query (checked here from the
    texts) and scores at least half the best positive's BM25 score; none is judged for its query."""
    from harness.data.local import load_local

    train = load_local(shared_data / "scifact", split="train")
    terms = ContentTerms()
    assert len(scifact_examples) == 400 and len({e.query_id for e in scifact_examples}) < 400  # several per query
    for e in scifact_examples:
        check = e.negative_check
        assert check["passed"] and 1 <= check["rank"] <= 30
        # the ratio is missing only where no positive of the query scores at all
        assert check["score_ratio"] >= 0.5 if check["positive_score"] else check["score_ratio"] is None
        shared = terms.of(e.query) & terms.of(e.negative)
        assert set(check["shared_terms"]) == shared and len(shared) >= min(2, len(terms.of(e.query)))
        assert e.negative_id not in train.qrels[e.query_id]  # unjudged for this query
        assert train.qrels[e.query_id][e.positive_id] > 0
    per_query = Counter(e.query_id for e in scifact_examples)
    assert max(per_query.values()) <= 4 * max(len([d for d, r in train.qrels[q].items() if r > 0]) for q in per_query)


def test_jsonl_examples_whose_negative_shares_no_terms_are_left_out(tmp_path):
    import json

    from dualview_trainer.examples import load_examples

    src = tmp_path / "ex.jsonl"
    rows = [{"query": "vitamin D and fracture risk", "positive": "Vitamin D lowers fracture risk in older women.",
             "negative": "Vitamin D receptor variants and fracture healing in mice."},
            {"query": "vitamin D and fracture risk", "positive": "Vitamin D lowers fracture risk in older women.",
             "negative": "A survey of coral reefs in the Pacific."}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    examples, _, _ = load_examples(str(src), limit=10, seed=0)
    assert [e.negative for e in examples] == [rows[0]["negative"]]
    assert examples[0].negative_check["shared_terms"] == ["fractur", "vitamin"]  # "D" is one letter: not a term


# --- the rules backend -------------------------------------------------------------------------

def test_rules_pool_is_verified_by_the_detectors_and_spread_over_types(rules_records):
    records, synth = rules_records
    kept = [r for r in records if r["kept"]]
    assert len(kept) >= 0.9 * len(records)
    window = synth.detectors.window
    for r in kept:
        c = r["constraint"]
        assert c["type"] in C.TYPE_NAMES
        # verified again from the texts alone: read the instruction back, test both documents' windows
        assert C.swap_reason(r["instruction"], r["complement"], window(r["positive"]), window(r["negative"])) is None
    types = Counter(r["constraint"]["type"] for r in kept)
    assert {"population", "design", "figures", "region", "context", "entity"} <= set(types)
    assert max(types.values()) < 0.5 * len(kept)
    assert r["provenance"]["swap_check"] == "detectors" and r["provenance"]["llm"]["backend"] == "rules"


def test_rules_instructions_name_categories_not_document_strings(rules_records):
    """At least half of every type's kept instructions (types with 20 or more) name their value in
    words neither document contains in the part the encoder reads."""
    records, synth = rules_records
    share = C.category_share(records, synth.detectors.window)
    counts = Counter(r["constraint"]["type"] for r in records if r["kept"])
    for t, value in share.items():
        if counts[t] >= 20:
            assert value >= 0.5, (t, value)


def test_constraints_lie_inside_the_training_window(rules_records):
    records, synth = rules_records
    window = synth.detectors.window
    long = [r for r in records if r["kept"] and len(window(r["positive"])) < len(r["positive"])]
    assert long  # SciFact abstracts are longer than 160 tokens
    for r in long[:50]:
        c = r["constraint"]
        value = c["positive_value"] or c["negative_value"]
        side = "positive" if c["positive_value"] else "negative"
        assert C.has(window(r[side]), c["type"], value)


# --- the leak-free split -----------------------------------------------------------------------

def _rec(i, q, pos, neg, kept=True, entity=None):
    c = {"type": "entity", "positive_value": None, "negative_value": entity} if entity else {"type": "design", "positive_value": "cohort", "negative_value": None}
    return {"id": f"r{i}", "query": q, "positive": f"text {pos}", "negative": f"text {neg}", "positive_id": pos, "negative_id": neg,
            "kept": kept, "constraint": c}


def test_a_held_out_pair_sharing_a_document_with_training_fails_the_split_check():
    train = [_rec(1, "q1", "d1", "d2"), _rec(2, "q2", "d3", "d4")]
    check_disjoint(train, [_rec(3, "q3", "d5", "d6")])
    with pytest.raises(IfirError, match="shares doc:d4 with training record r2"):
        check_disjoint(train, [_rec(4, "q4", "d4", "d7")])
    with pytest.raises(IfirError, match="shares query:q1"):
        check_disjoint(train, [_rec(5, "q1", "d8", "d9")])
    with pytest.raises(IfirError, match="shares entity:brca1"):
        check_disjoint(train + [_rec(6, "q6", "d10", "d11", entity="BRCA1")], [_rec(7, "q7", "d12", "d13", entity="BRCA1")])


def test_split_holds_out_by_content(rules_records):
    records, _ = rules_records
    split = split_pool(records, probe_size=60, seed=0)
    by_id = {r["id"]: r for r in records}
    assert len(split.dev) == 30 and len(split.test) == 30
    train = [by_id[i] for i in split.train]
    check_disjoint(train, [by_id[i] for i in split.dev + split.test])
    check_disjoint([by_id[i] for i in split.dev], [by_id[i] for i in split.test])
    probe_keys = set().union(*(content(by_id[i]) for i in split.dev + split.test))
    assert all(content(by_id[i]) & probe_keys for i in split.dropped)  # dropped only for sharing
    assert len(split.train) + len(split.dropped) + 60 == sum(r["kept"] for r in records)
    assert len({by_id[i]["constraint"]["type"] for i in split.test}) >= 5  # the types in turn
    assert split_pool(list(reversed(records)), probe_size=60, seed=0).digest() == split.digest()  # file order does not matter


# --- mixes and controls ------------------------------------------------------------------------

def _records(n_queries: int, per_query: int) -> list[dict]:
    return [{"id": f"q{q}:{k}", "query_id": f"q{q}", "query": f"query {q}", "instruction": f"instruction {q}.{k}",
             "complement": f"complement {q}.{k}", "positive": f"positive {q}.{k}", "negative": f"negative {q}.{k}", "kept": True}
            for q in range(n_queries) for k in range(per_query)]


def test_standard_has_few_queries_and_diversity_many():
    recs = _records(80, 6)
    _, std = build_rows(recs, budget=64, mix="standard", seed=0)
    _, div = build_rows(recs, budget=64, mix="diversity", seed=0)
    _, dual = build_rows(recs, budget=64, mix="dual-view", seed=0)
    assert std["n_queries"] == 64 // EXAMPLES_PER_QUERY and div["n_queries"] == 64 and dual["n_queries"] == 32 // EXAMPLES_PER_QUERY
    assert set(dual["record_ids"]) < set(std["record_ids"])  # dual-view: the first half of standard's records


def test_shuffled_control_moves_every_complement_to_another_pair():
    recs = _records(40, 1)
    rows, _ = build_rows(recs, budget=32, mix=SHUFFLED, seed=2)
    plain, _ = build_rows(recs, budget=32, mix="dual-view", seed=2)
    assert [r["anchor"] for r in rows[0::2]] == [r["anchor"] for r in plain[0::2]]  # view A untouched
    for b in rows[1::2]:
        q = b["negative"].split()[-1].split(".")[0]  # view B's negative is its own pair's positive
        assert f"complement {q}." not in b["anchor"]
    complements = lambda rs: sorted(r["anchor"].split(" ", 2)[2] for r in rs[1::2])  # noqa: E731
    assert complements(rows) == complements(plain)  # the same complements, each with another pair
    assert sorted(derangement(list("abcd"), random.Random(0))) == list("abcd")
    assert all(x != y for x, y in zip(derangement(list(range(10)), random.Random(1)), range(10)))
    assert CONTRAST.startswith("dual-view")


# --- statistics --------------------------------------------------------------------------------

def test_holm_against_hand_worked_cases_and_statsmodels():
    # m = 4: sorted p 0.01, 0.03, 0.04, 0.5 -> 0.04, 0.09, max(0.09, 0.08) = 0.09, 0.5
    assert holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert holm([0.2, 0.6]) == pytest.approx([0.4, 0.6])
    assert holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])  # 2 x 0.8 capped at 1; then 0.9 raised to stay non-decreasing
    assert holm([]) == []
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    ps = [0.001, 0.2, 0.013, 0.04, 0.04, 0.7, 0.0001, 0.05]
    assert holm(ps) == pytest.approx(list(multitest.multipletests(ps, method="holm")[1]))


def test_seed_level_test_against_scipy_on_a_hand_case():
    from scipy import stats

    a = [0.62, 0.63, 0.61, 0.64, 0.60]
    b = [0.60, 0.60, 0.60, 0.60, 0.60]
    # differences 0.02 0.03 0.01 0.04 0.00: mean 0.02, sd sqrt(0.001 / 4) = 0.0158114, t = 0.02 / (0.0158114 / sqrt 5) = 2.8284
    out = seed_test(a, b)
    assert out["diff"] == pytest.approx(0.02) and out["sd"] == pytest.approx(0.0158114, rel=1e-5)
    assert out["p"] == pytest.approx(2 * stats.t.sf(2.8284271, 4), rel=1e-5)
    assert out["p"] == pytest.approx(stats.ttest_rel(a, b).pvalue)
    # one number for b (the base); non-inferiority: a - b > -0.01
    ni = seed_test([0.640, 0.641, 0.646, 0.643], 0.645, margin=-0.01, alternative="greater")
    assert ni["p"] == pytest.approx(stats.ttest_1samp([x - 0.645 for x in (0.640, 0.641, 0.646, 0.643)], -0.01, alternative="greater").pvalue)
    assert math.isnan(seed_test([0.5], [0.4])["p"])


# --- the LLM path asks for the same kinds of constraint ------------------------------------------

class AttributeLLM:
    """A stand-in LLM that writes what the prompt's attribute line asks: the instruction names the
    value document A shows (in its category words), the complement rules it out; `wrong` writes a
    complement of the same polarity (which the detectors must reject)."""

    backend = "scripted"

    def __init__(self, wrong: bool = False):
        self.prompts: list[str] = []
        self.wrong = wrong

    def _value(self, text: str) -> tuple[str, str] | None:
        line = next((l for l in text.splitlines() if l.startswith("The documents differ in")), "")
        for t in C.TYPES:
            if line.startswith(f"The documents differ in {t.description}:"):
                shown = line.split(": ", 1)[1]
                which = "A" if "document A shows" in shown else "B"
                value = shown.split(f"document {which} shows ", 1)[1].split(",")[0].rstrip(".")
                return t.name, value, which
        return None

    def generate(self, prompts, sampling):
        out = []
        for m in prompts:
            text = m[0]["content"]
            self.prompts.append(text)
            found = self._value(text)
            if found is None:
                out.append("about the topic.")
                continue
            phrase = C.BY_NAME[found[0]].value(found[1]).phrases[0]
            first, second = f"that are {phrase}.", f"that are not {phrase}."
            if found[2] == "B":  # the negative shows the value: the instruction rules it out
                first, second = second, first
            complement = "complementary instruction" in text
            out.append(second if complement and not self.wrong else first)
        return out

    def describe(self):
        return {"backend": self.backend, "model": "attribute-llm"}


@pytest.mark.parametrize("wrong", [False, True])
def test_llm_is_told_the_attribute_and_checked_by_the_detectors(scifact_examples, tmp_path, wrong):
    from dualview_trainer.rules import Detectors
    from dualview_trainer.synthesis import Synthesizer, Validation, synthesize

    detectors = Detectors([e.positive for e in scifact_examples] + [e.negative for e in scifact_examples], window=lambda text: " ".join(text.split()[:110]),
                          types=("population", "design"))
    examples = [e for e in scifact_examples if any(c.form != "both" for c in detectors.options(e))][:12]
    llm = AttributeLLM(wrong=wrong)
    synth = Synthesizer(llm, detectors=detectors, validation=Validation(judge=False), chunk_size=4)
    records, stats = synthesize(examples, synth, tmp_path / "s.jsonl")
    assert any("The documents differ in" in p for p in llm.prompts)
    assert all(r["provenance"]["swap_check"] == "detectors" for r in records)
    if wrong:  # both instructions require the value: the complement view cannot swap
        assert stats.kept == 0 and set(stats.rejected_by_reason) <= {"swap_check_complement_view", "swap_check_original_view",
                                                                       "no_checkable_constraint", "complement_copy_of_instruction"}
    else:
        kept = [r for r in records if r["kept"]]
        assert len(kept) >= len(records) // 2
        for r in kept:
            assert r["constraint"]["type"] in ("population", "design")
            assert C.swap_reason(r["instruction"], r["complement"], detectors.window(r["positive"]), detectors.window(r["negative"])) is None
