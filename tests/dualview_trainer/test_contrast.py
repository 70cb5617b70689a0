"""LLM-free synthesis, the swap check, the typed config, the recipe's edges and the matched-budget experiment."""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from harness.errors import IfirError

from dualview_trainer.config import load_config
from dualview_trainer.contrast import PHRASINGS, STYLES, ContrastSynthesizer, SwapCheck
from dualview_trainer.examples import Example, from_beir
from dualview_trainer.synthesis import Synthesizer, Validation, synthesize

POSITIVE = "Aspirin lowers stroke risk. Trial of aspirin in elderly patients with atrial fibrillation."
NEGATIVE = "Aspirin and stroke: gastrointestinal bleeding in warfarin users."
FILLER = ["Patients in the trial: risk lowers for elderly users with bleeding."] * 8


def test_key_phrases_by_hand():
    """idf = ln((1+n)/(1+df)) + 1 over 10 documents: 'atrial' and 'fibrillation' occur once (idf 2.705),
    the filler words nine times (1.095); a bigram scores its idf sum / sqrt(2). In the positive,
    'atrial fibrillation' (3.826) beats 'atrial' (2.705); in the negative, 'gastrointestinal' (2.705)
    beats 'gastrointestinal bleeding' (2.687) and ties 'warfarin', which comes later. Query words
    ('aspirin', 'stroke') and words of the other document never qualify."""
    cs = ContrastSynthesizer([POSITIVE, NEGATIVE, *FILLER])
    q = "aspirin stroke prevention"
    assert cs.key_phrase(POSITIVE, NEGATIVE, q) == "atrial fibrillation"
    assert cs.key_phrase(NEGATIVE, POSITIVE, q) == "gastrointestinal"
    assert cs.key_phrase("Aspirin and stroke.", NEGATIVE, q) is None
    ex = Example("e1", q, "", POSITIVE, NEGATIVE)
    instruction, complement, details = cs.write(ex)
    assert details["positive_phrase"] == "atrial fibrillation" and details["negative_phrase"] == "gastrointestinal"
    phrasing = next(p for p in PHRASINGS[details["style"]] if p.format(a="atrial fibrillation", b="gastrointestinal") == instruction)
    assert complement == phrasing.format(a="gastrointestinal", b="atrial fibrillation")  # the same sentence, phrases swapped


@pytest.fixture(scope="module")
def scifact_examples(shared_data):
    from harness.data.local import load_local

    task = load_local(shared_data / "scifact", split="train")
    examples = from_beir(shared_data / "scifact", limit=120, seed=0, task=task)
    return examples, [f"{d.title} {d.text}" for d in task.corpus.values()]


def test_contrast_pairs_on_scifact_swap_by_construction(scifact_examples):
    examples, corpus = scifact_examples
    cs = ContrastSynthesizer(corpus, seed=0, window_words=80)
    stem = cs.stem
    written = [(ex, cs.write(ex)) for ex in examples]
    assert sum(w is not None for _, w in written) >= 0.95 * len(examples)
    styles = set()
    check = SwapCheck()
    for ex, w in written:
        if w is None:
            continue
        instruction, complement, d = w
        styles.add(d["style"])
        words = lambda text: {stem(t.lower()) for t in text.replace("-", " ").split()}  # noqa: E731
        pos_window = " ".join(ex.positive.split()[:80]).lower()
        assert d["positive_phrase"].lower() in pos_window and d["negative_phrase"].lower() in ex.negative.lower()
        assert not {stem(t.lower()) for t in d["positive_phrase"].split()} & words(ex.negative.replace(".", " ").replace(",", " "))
        assert check.reason(instruction, complement, ex.positive, ex.negative) is None
    assert styles == set(STYLES)
    again = ContrastSynthesizer(corpus, seed=0, window_words=80)
    assert [again.write(ex) for ex in examples] == [w for _, w in written]  # deterministic under the seed
    other = ContrastSynthesizer(corpus, seed=1, window_words=80)
    assert [other.write(ex) for ex in examples] != [w for _, w in written]


def test_swap_check_reads_required_and_ruled_out_terms(shared_data):
    check = SwapCheck()
    sample = [json.loads(l) for l in (Path(__file__).resolve().parents[2] / "harness" / "sample_data" / "sample" / "instructions.jsonl").read_text().splitlines()]
    required, ruled_out = check.terms(sample[0]["instruction"])  # the embedded sample's real narrative (urban beekeeping)
    assert {"hive", "citi", "honey", "pollin"} <= required and {"rural", "beekeep", "biolog"} <= ruled_out
    assert not {"bee", "urban"} & required  # named on both sides ("no urban setting"): no evidence either way
    pos = "Infant sleep position and sudden infant death syndrome: prone sleeping and soft bedding."
    neg = "Cardiovascular adaptation during sleep in infants and children: heart rate variability."
    good = ("Relevant documents discuss prone sleeping or soft bedding; documents about heart rate are not relevant.",
            "Relevant documents discuss heart rate variability; documents about prone sleeping or bedding are not relevant.")
    assert check.reason(*good, pos, neg) is None
    # kept by the old pipeline (issue 10): an instruction with nothing to check, and the positive's own title as complement
    assert check.reason(good[0], "Find documents with the opposite instruction.", pos, neg) == "swap_check_complement_view"
    assert check.reason(good[0], "Find documents about infant sleep position and sudden infant death syndrome.", pos, neg) == "swap_check_complement_view"
    assert check.reason("Exclude documents that mention bedding.", good[1], pos, neg) == "swap_check_original_view"


def test_contrast_backend_through_synthesize(scifact_examples, tmp_path):
    examples, corpus = scifact_examples
    synth = Synthesizer(None, writer=ContrastSynthesizer(corpus, seed=0), validation=Validation(judge=True))
    records, stats = synthesize(examples[:40], synth, tmp_path / "s.jsonl", target_kept=30)
    assert stats.kept >= 30 and stats.kept + stats.rejected == len(records)
    kept = [r for r in records if r["kept"]]
    assert all(r["contrast"]["style"] in STYLES and r["written_instruction"] for r in kept)
    prov = records[0]["provenance"]
    assert prov["llm"]["backend"] == "contrast" and prov["judge"] is False and prov["swap_check"] == "lexical"


# --- the typed config ----------------------------------------------------------------------

def test_config_rejects_unknown_and_mistyped_keys(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[model]\nbase = "minilm"\n[training]\nwarmup_steps = 0.1\n')
    with pytest.raises(IfirError, match=r"bad.toml: \[training\] warmup_steps: unknown key"):
        load_config(str(bad))
    bad.write_text('[training]\nlearning_rate = "fast"\n')
    with pytest.raises(IfirError, match=r"bad.toml: \[training\] learning_rate: expected float"):
        load_config(str(bad))
    bad.write_text('[trainig]\nlearning_rate = 1e-5\n')
    with pytest.raises(IfirError, match=r"bad.toml: trainig: unknown section"):
        load_config(str(bad))
    ok = tmp_path / "ok.toml"
    ok.write_text('[training]\nnum_train_epochs = 3\n[mining]\ndepth = 5\n')
    cfg = load_config(str(ok), {"training.learning_rate": 1e-4})
    assert cfg.training.num_train_epochs == 3.0 and cfg.mining.depth == 5 and cfg.training.learning_rate == 1e-4


def test_mining_depth_is_honoured(shared_data):
    """With depth 1 a query keeps an example only when BM25's top document is unjudged and matches
    the query (two shared content terms, half the best positive's score); that is then the negative."""
    from dualview_trainer.examples import POSITIVE_DEPTH, query_match
    from dualview_trainer.mining import ContentTerms, mine
    from harness.data.local import load_local
    from harness.ranking import ranked

    task = load_local(shared_data / "scifact", split="train")
    shallow = from_beir(shared_data / "scifact", limit=40, seed=0, depth=1, task=task)
    order = sorted(q for q in task.queries if any(r > 0 for r in task.qrels.get(q, {}).values()))
    random.Random(0).shuffle(order)  # the query order from_beir draws at seed 0
    visited = order[: order.index(shallow[-1].query_id) + 1]
    run = mine(task.corpus, {q: task.queries[q].text for q in visited}, miner="bm25", depth=POSITIVE_DEPTH)
    terms = ContentTerms()
    expected = []
    for q in visited:
        top = ranked(run[q])[0]
        best = max(run[q].get(d, 0.0) for d, r in task.qrels[q].items() if r > 0)
        doc = task.corpus[top]
        if top not in task.qrels[q] and query_match(terms, task.queries[q].text, f"{doc.title} {doc.text}", run[q][top], best)["passed"]:
            expected.append(q)
    assert list(dict.fromkeys(e.query_id for e in shallow)) == expected and len(expected) < len(visited)  # some queries skipped
    assert all(e.negative_id == ranked(run[e.query_id])[0] for e in shallow)


# --- recipe edges ---------------------------------------------------------------------------

def test_warmup_is_a_step_count(tmp_path):
    from dualview_trainer.train import training_arguments, warmup_steps

    cfg = load_config("cpu")  # warmup_ratio 0.1, 2 epochs
    assert warmup_steps(cfg, steps_per_epoch=16, max_steps=None) == 3  # round(0.1 * 32)
    assert warmup_steps(cfg, steps_per_epoch=16, max_steps=50) == 5
    args = training_arguments(cfg, tmp_path, seed=0, max_steps=None, warmup=3)
    assert args.warmup_steps == 3 and isinstance(args.warmup_steps, int)


def test_model_prompts_reach_the_trainer():
    from dualview_trainer.train import base_prompts

    class WithPrompts:
        prompts = {"query": "query: ", "document": "passage: "}

    class Without:
        prompts = {}

    assert base_prompts(WithPrompts()) == {"anchor": "query: ", "positive": "passage: ", "negative": "passage: "}
    assert base_prompts(Without()) is None


def test_pair_aware_loss_refuses_to_fall_back(minilm_st):
    from dualview_trainer.loss import PairAwareCachedMNRL

    reps = [[torch.randn(2, 8)] for _ in range(3)]
    with pytest.raises(IfirError, match="cannot gather across devices"):
        PairAwareCachedMNRL(minilm_st, gather_across_devices=True).calculate_loss(reps, torch.tensor([0, 0]))
    with pytest.raises(IfirError, match="needs each row's pair id"):
        PairAwareCachedMNRL(minilm_st).calculate_loss(reps, None)


@pytest.fixture(scope="module")
def minilm_st():
    from sentence_transformers import SentenceTransformer

    from harness.models.dense import bundled_minilm_path

    return SentenceTransformer(bundled_minilm_path(), device="cpu")


def test_the_mask_is_active_inside_trainer_train(shared_data, tmp_path, monkeypatch):
    """A spy on calculate_loss during a real (tiny) `trainer.train`: every call gets the pair ids,
    pairs share an id, and the masked loss differs from the unmasked one on the same embeddings."""
    from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss

    from dualview_trainer.loss import PairAwareCachedMNRL
    from dualview_trainer.pairing import build_rows
    from dualview_trainer.train import resolve_base_model, train_model

    seen = []
    real = PairAwareCachedMNRL.calculate_loss

    def spy(self, reps, labels=None, *, with_backward=False):
        detached = [[r.detach() for r in col] for col in reps]
        unmasked = CachedMultipleNegativesRankingLoss.calculate_loss(self, detached, None).item()
        masked = real(self, detached, labels).item()
        seen.append((labels.tolist() if labels is not None else None, masked, unmasked))
        return real(self, reps, labels, with_backward=with_backward)

    monkeypatch.setattr(PairAwareCachedMNRL, "calculate_loss", spy)
    exs = from_beir(shared_data / "scifact", limit=4, seed=0)
    recs = [{**e.to_dict(), "instruction": "Relevant documents report a trial.", "complement": "Relevant documents are reviews.", "kept": True} for e in exs]
    rows, _ = build_rows(recs, budget=8, mix="dual-view", seed=0)
    cfg = load_config("cpu", {"training.per_device_train_batch_size": 4, "training.mini_batch_size": 4, "training.max_seq_length": 32,
                              "training.num_train_epochs": 1, "training.save_steps": 100})
    train_model(rows, cfg, tmp_path / "m", base_path=resolve_base_model("minilm")[0], seed=0, max_steps=1)
    assert seen, "calculate_loss was never called during training"
    for labels, masked, unmasked in seen:
        assert labels is not None and all(labels.count(g) == 2 for g in labels)
        assert masked != pytest.approx(unmasked, abs=1e-4)


def test_card_paths_are_relative(tmp_path, monkeypatch):
    from dualview_trainer.job import portable_path

    monkeypatch.chdir(tmp_path)
    assert portable_path("../shared/data/scifact") == "../shared/data/scifact"
    assert portable_path(tmp_path / "data" / "scifact") == "data/scifact"
    assert portable_path(tmp_path / "runs" / "x" / "synthesis.jsonl", tmp_path / "runs" / "x") == "synthesis.jsonl"
    assert portable_path("samaya-ai/msmarco-w-instructions") == "samaya-ai/msmarco-w-instructions"


# --- the experiment --------------------------------------------------------------------------

def _small_scifact(shared_data, folder: Path) -> Path:
    """SciFact restricted to its judged documents (train and test), queries and qrels as they are."""
    src = shared_data / "scifact"
    judged = {l.split("\t")[1] for f in ("train", "test") for l in (src / "qrels" / f"{f}.tsv").read_text().splitlines()[1:]}
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(l + "\n" for l in (src / "corpus.jsonl").read_text().splitlines()
                                                 if json.loads(l)["_id"] in judged))
    for f in ("queries.jsonl", "qrels/train.tsv", "qrels/test.tsv"):
        (folder / f).write_text((src / f).read_text())
    return folder


@pytest.mark.slow
def test_matched_budget_experiment_runs_resumes_and_cannot_leak(shared_data, tmp_path, monkeypatch):
    """Two mixes at a tiny budget on real SciFact data, two seeds: the probe is held out by
    content from every training record, the leak-free task keeps only test queries no training
    record touches, the summary tests at the seed level with Holm's correction, and a re-run
    reuses everything."""
    from dualview_trainer.experiment import ExperimentOptions, model_dir, run_experiment
    from dualview_trainer.split import check_disjoint
    from harness.data.local import load_local

    monkeypatch.chdir(tmp_path)
    source = _small_scifact(shared_data, tmp_path / "scifact")
    opts = ExperimentOptions(source=str(source), out=Path("mb"), budgets=(8,), seeds=2, mixes=("standard", "dual-view"),
                             eval_tasks=("sample",), probe_size=20, cache_dir=tmp_path / "cache",
                             overrides={"training.per_device_train_batch_size": 4, "training.mini_batch_size": 4,
                                        "training.max_seq_length": 32, "training.num_train_epochs": 1, "model.max_seq_length": 32})
    lines = []
    summary = run_experiment(opts, log=lines.append)
    rows = {(r["budget"], r["mix"]): r for r in summary["rows"]}
    assert set(rows) == {(None, "base"), (8, "standard"), (8, "dual-view")}
    assert summary["roles"] == {"probe-dev": "dev", "probe-test": "probe", "scifact-leakfree": "general", "scifact": "in-domain",
                                "sample": "eval"}
    # every model's training records are disjoint in content from both probe parts
    pool = [json.loads(l) for l in (Path("mb") / "pool" / "synthesis.jsonl").read_text().splitlines()]
    by_id = {r["id"]: r for r in pool}
    split = json.loads((Path("mb") / "split.json").read_text())
    held_out = [by_id[i] for i in split["dev"] + split["test"]]
    trained_docs = set()
    for mix in ("standard", "dual-view"):
        for seed in (0, 1):
            folder = model_dir(Path("mb"), mix, 8, seed)
            ids = json.loads((folder / "training_records.json").read_text())["record_ids"]
            check_disjoint([by_id[i] for i in ids], held_out)
            trained_docs |= {by_id[i][k] for i in ids for k in ("positive_id", "negative_id")}
            card = json.loads((folder / "training_card.json").read_text())
            assert card["llm"]["backend"] == "rules" and card["data"]["held_out"]["digest"].startswith("sha256:")
            assert sum(card["data"]["constraint_types"].values()) == len(ids)
    leakfree = load_local(Path("mb") / "tasks" / "scifact-leakfree")
    assert leakfree.queries and all(not {d for d, r in leakfree.qrels[q].items() if r > 0} & trained_docs for q in leakfree.queries)
    # tests: seed level, Holm over the table, never on the dev part
    tests = summary["tests"]
    assert tests and all(t["n_seeds"] == 2 and t["task"] != "probe-dev" for t in tests)
    assert {t["b"] for t in tests} == {"standard", "base"}
    ps = [t["p"] for t in tests if t["p"] == t["p"]]
    from harness.metrics.significance import holm
    assert sorted(t["p_holm"] for t in tests if "p_holm" in t) == sorted(holm(ps))
    assert {c["claim"] for c in summary["claims"]} == {"a", "b", "c"}
    assert "probe-test" in summary["breakdowns"] and "sample" in summary["breakdowns"]
    assert summary["frozen"]["commit"] is None or len(summary["frozen"]["commit"]) == 40
    assert (Path("mb") / "summary.md").is_file() and (Path("mb") / "site" / "index.html").is_file()
    lines.clear()
    again = run_experiment(opts, log=lines.append)
    assert again["rows"] == summary["rows"] and again["frozen"] == summary["frozen"]
    assert sum("trained (results kept)" in l for l in lines) == 4 and not any("examples/s" in l for l in lines)
    # On another machine, in another folder, with what is committed alone (result files without their
    # TREC runs, frozen.json): nothing is trained or scored again and the summary is the same; a model
    # with a result missing is trained and scored again.
    copy = Path("elsewhere")
    shutil.copytree(Path("mb") / "results", copy / "results", ignore=shutil.ignore_patterns("*.run.trec"))
    shutil.copy(Path("mb") / "frozen.json", copy / "frozen.json")
    from harness.results import read_record
    next(p for p in sorted((copy / "results").rglob("scifact.json")) if read_record(p).training_card).unlink()
    lines.clear()
    again = run_experiment(replace(opts, out=copy), log=lines.append)
    assert again["rows"] == summary["rows"] and again["tests"] == summary["tests"] and again["frozen"] == summary["frozen"]
    assert sum("trained (results kept)" in l for l in lines) == 3 and sum("examples/s" in l for l in lines) == 1
    base_lines = [l for l in lines if "] base on " in l]
    assert len(base_lines) == 5 and all("(reused)" in l for l in base_lines), base_lines
    # Another learning rate into the same folder: refused before any work, naming what changed,
    # never the old models' numbers under the new settings.
    lines.clear()
    changed = ExperimentOptions(**{**opts.__dict__, "overrides": {**opts.overrides, "training.learning_rate": 2e-5}})
    trained_lr = load_config("cpu").training.learning_rate  # what the models of the first run used
    with pytest.raises(IfirError, match=rf"learning_rate: {trained_lr} -> 2e-05.*new --out"):
        run_experiment(changed, log=lines.append)
    assert not lines


def test_config_changes_names_each_setting_and_reads_old_cards_as_defaults():
    from dualview_trainer.config import load_config
    from dualview_trainer.experiment import config_changes

    cfg = load_config("cpu")
    card = cfg.to_dict()
    assert config_changes(card, cfg) == []
    del card["training"]["general_fraction"]  # a card written before the key existed
    assert config_changes(card, cfg) == []
    assert config_changes(card, load_config("cpu", {"training.general_fraction": 0.5})) == ["training.general_fraction: 0.0 -> 0.5"]
    card["synthesis"]["judge_views"] = ["original", "complement"]
    assert config_changes(card, cfg) == ["synthesis.judge_views: ['original', 'complement'] -> ('complement',)"]


def test_summary_table_says_when_a_task_has_fewer_seeds_than_the_row():
    """A task scored for one seed of a three-seed row shows no spread and says so (not '± 0')."""
    from dualview_trainer.experiment import summary_markdown

    summary = {"tasks": ["sample", "scifact"], "roles": {"sample": "eval", "scifact": "in-domain"}, "tests": [], "claims": [],
               "breakdowns": {}, "frozen": None, "rows": [
        {"budget": 256, "mix": "dual-view", "n_seeds": 3, "measures": {
            "sample": {"measure": "p-MRR", "mean": 0.02, "sd": 0.01, "values": [0.01, 0.02, 0.03]},
            "scifact": {"measure": "nDCG@10", "mean": 0.594, "sd": 0.0, "values": [0.594]}}}]}
    row = summary_markdown(summary).splitlines()[2]
    assert row == "| 256 | dual-view | 3 | 2 ± 1 | 0.594 (1 of 3 seeds) |"


def test_summary_claims_show_p_mrr_as_the_tables_do():
    """A claim's detail prints sample p-MRR x100 like the tables above it (-0.0134 stored is -1.34 shown);
    the claim is built by claims() from test rows shaped as summarize() writes them."""
    from dualview_trainer.experiment import claims, summary_markdown

    test = {"budget": 256, "a": "dual-view", "b": "standard", "task": "sample", "role": "eval", "kind": "superiority",
            "measure": "p-MRR", "margin": 0.0, "n_seeds": 3, "diff": -0.0134, "low": -0.03, "high": 0.01, "p": 0.4, "p_holm": 1.0}
    summary = {"tasks": [], "roles": {}, "tests": [test], "breakdowns": {}, "frozen": None, "rows": [], "claims": claims([test])}
    assert "(sample -1.3400, p Holm 1)" in summary_markdown(summary)


def test_summary_breakdown_shows_p_mrr_as_the_tables_do():
    """The by-type table of a p-MRR task is x100 with a sign like the first table (-0.0658 stored is
    -6.58 shown); an nDCG or accuracy task's stays as stored, to 3 decimals; a missing type is n/a."""
    from dualview_trainer.experiment import summary_markdown

    rows = [{"budget": None, "mix": "base", "n_seeds": 1, "measures": {
        "sample": {"measure": "p-MRR", "mean": 0.0095, "sd": 0.0, "values": [0.0095]},
        "probe-test": {"measure": "direction-accuracy", "mean": 0.5417, "sd": 0.0, "values": [0.5417]}}}]
    breakdowns = {"sample": {"by_mix": {"base": {"date": -0.0658, "entity": 0.0417}}, "n": {"date": 2, "entity": 2}},
                  "probe-test": {"by_mix": {"base": {"date": 0.52941, "entity": 0.41176}, "dual-view b256": {"date": 0.68235}},
                                 "n": {"date": 17, "entity": 17}}}
    summary = {"tasks": ["sample", "probe-test"], "roles": {"sample": "eval", "probe-test": "probe"}, "tests": [], "claims": [],
               "breakdowns": breakdowns, "frozen": None, "rows": rows}
    lines = summary_markdown(summary).splitlines()
    assert "| base | -6.58 | +4.17 |" in lines
    assert "| base | 0.529 | 0.412 |" in lines
    assert "| dual-view b256 | 0.682 | n/a |" in lines


def test_seeds_per_budget_plan_and_refusals():
    """`--seeds 256:5,512:3` trains 5 seeds at 256 and 3 at 512 (15 + 9 = 24 models for three mixes)."""
    from click.testing import CliRunner

    from dualview_trainer.cli import _seeds, experiment
    from dualview_trainer.experiment import ExperimentOptions, plan

    assert _seeds("5") == 5 and _seeds("256:5,512:3") == {256: 5, 512: 3}
    opts = ExperimentOptions(source="x", out=Path("mb"), budgets=(256, 512), seeds=_seeds("256:5,512:3"),
                             mixes=("standard", "dual-view", "dual-view-shuffled"))
    runs = plan(opts)
    assert len(runs) == 24
    assert sorted({s for b, s, _ in runs if b == 256}) == [0, 1, 2, 3, 4]
    assert sorted({s for b, s, _ in runs if b == 512}) == [0, 1, 2]
    assert [b for b, _, _ in runs[:9]] == [512] * 9  # the largest budget first, as with one count
    with pytest.raises(IfirError, match="budget 512"):
        plan(ExperimentOptions(source="x", out=Path("mb"), budgets=(256, 512), seeds={256: 5}))
    for bad in ("five", "256:5,256:3", "256-5"):
        result = CliRunner().invoke(experiment, ["matched-budget", "--source", "x", "--out", "o", "--seeds", bad])
        assert result.exit_code == 2 and "--seeds" in result.output, (bad, result.output)
