"""Dual-view training: pairing, budgets, validation, resume, the HTTP backend, the loss, training."""

from __future__ import annotations

import json
import threading
import zlib
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import torch

from harness.errors import IfirError

from dualview_trainer.config import load_config
from dualview_trainer.examples import Example, from_beir, from_infir_row, from_promptriever_row
from dualview_trainer.llm import HTTPLLM, Sampling
from dualview_trainer.loss import PairBatchSampler
from dualview_trainer.pairing import anchor, build_rows
from dualview_trainer.synthesis import Synthesizer, Validation, check_instruction, read_done, synthesize


def record(i: int, *, query=None, kept=True) -> dict:
    return {"id": f"e{i}", "query": query or f"query {i}", "instruction": f"Find documents about topic {i}",
            "complement": f"Find documents about other topic {i}", "positive": f"positive doc {i}",
            "negative": f"negative doc {i}", "kept": kept}


class ScriptedLLM:
    """A deterministic stand-in LLM for the accounting tests. It writes "the opposite of ..." when
    asked for a complement, and its judge says yes to the positive document unless the
    instruction says "opposite" (or always, with `stubborn_judge`, so the judge rejects)."""

    backend = "scripted"

    def __init__(self, copy_every: int = 0, stubborn_judge: bool = False):
        self.calls = 0
        self.copy_every = copy_every
        self.stubborn_judge = stubborn_judge

    def generate(self, prompts, sampling):
        out = []
        for m in prompts:
            self.calls += 1
            text = m[0]["content"]
            q = [line for line in text.splitlines() if line.startswith("Search query:")][-1]  # the task, after the examples
            if self.copy_every and self.calls % self.copy_every == 0:
                out.append("the same")
            else:
                out.append(f"about {'the opposite of ' if 'complementary instruction' in text else ''}{q} variant {self.calls}")
        return out

    def yes_no(self, prompts):
        scores = []
        for m in prompts:
            instruction, document = m[0]["content"].split("Instruction:")[1].split("Document:")
            positive = "positive" in document
            flip = "opposite" in instruction and not self.stubborn_judge
            scores.append(1.0 if positive != flip else -1.0)
        return scores

    def describe(self):
        return {"backend": self.backend, "model": "scripted"}


# --- pairing and budgets ---------------------------------------------------------------

def test_dual_view_rows_swap_labels_and_share_a_group():
    rows, acc = build_rows([record(i) for i in range(4)], budget=8, mix="dual-view", seed=0)
    assert acc == {"n_examples": 8, "n_pairs": 4, "n_queries": 4, "n_general": 0, "record_ids": ["e0", "e1", "e2", "e3"]}
    a, b = rows[0], rows[1]
    assert a["label"] == b["label"]
    i = a["positive"].split()[-1]  # the record this pair came from (the seed orders the records)
    assert a["anchor"] == f"query {i} Find documents about topic {i}"  # the harness's "{query} {instruction}"
    assert b["anchor"] == f"query {i} Find documents about other topic {i}"
    assert (a["positive"], a["negative"]) == (b["negative"], b["positive"])


def test_anchor_uses_the_harness_template():
    from harness.models.protocols import ModelMeta
    from harness.types import Query

    meta = ModelMeta(name="m", revision="r", kind="dense")
    for q, instr in (("what is x", "Only y."), ("what is x", "")):
        assert anchor(q, instr) == meta.format_query(Query("1", q, instr))


@pytest.mark.parametrize("mix,pairs", [("standard", 0), ("diversity", 0), ("dual-view", 3)])
def test_budget_accounting(mix, pairs):
    # 8 kept records over 6 distinct queries (two queries repeat) and 2 rejected ones.
    recs = [record(0), record(1, query="query 0"), record(2), record(3, query="query 2"), record(9, kept=False),
            record(4), record(5), record(6), record(7), record(8, kept=False)]
    rows, acc = build_rows(recs, budget=6, mix=mix, seed=1)
    used = {d for r in rows for d in (r["positive"], r["negative"])}
    assert acc["n_examples"] == len(rows) == 6 and acc["n_pairs"] == pairs
    assert acc["n_queries"] == len({r["query"] for r in recs if r["positive"] in used})
    assert all(r["anchor"] and r["positive"] != r["negative"] for r in rows)
    assert not used & {"positive doc 8", "positive doc 9", "negative doc 8", "negative doc 9"}  # rejected: never used
    if mix == "diversity":
        assert len({r["label"] for r in rows}) == 6 == acc["n_queries"]


def test_mixes_at_one_seed_share_their_records_and_seeds_differ():
    """Matched budgets: at one seed, dual-view's pairs are the first records standard uses; another seed draws others."""
    recs = [record(i) for i in range(40)]
    standard = {r["positive"] for r in build_rows(recs, budget=16, mix="standard", seed=3)[0]}
    dual = {r["positive"] for r in build_rows(recs, budget=16, mix="dual-view", seed=3)[0] if r["positive"].startswith("positive")}
    assert len(dual) == 8 and dual < standard
    assert {r["positive"] for r in build_rows(recs, budget=16, mix="standard", seed=4)[0]} != standard


@pytest.mark.parametrize("mix", ["standard", "diversity", "dual-view"])
def test_general_fraction_keeps_budgets_matched_and_zero_changes_nothing(mix):
    """Half of each budget instruction-free: the query alone prefers the positive, grouped with its
    record's views; the mix keeps its own rows from the same front of the order; 0 is the plain mix."""
    recs = [record(i) for i in range(40)]
    plain, _ = build_rows(recs, budget=16, mix=mix, seed=3)
    assert build_rows(recs, budget=16, mix=mix, seed=3, general_fraction=0.0)[0] == plain
    rows, acc = build_rows(recs, budget=16, mix=mix, seed=3, general_fraction=0.5)
    general = [r for r in rows if not r["anchor"].split(" ", 2)[2:]]  # "query N": no instruction joined
    assert len(rows) == acc["n_examples"] == 16 and len(general) == acc["n_general"] == 8
    assert all(r["positive"] == f"positive doc {r['anchor'].split()[1]}" for r in general)
    own = rows[: 16 - 8]
    assert own == plain[:8]  # the mix keeps its first rows, so variants share records
    by_group = {}
    for r in rows:
        by_group.setdefault(r["label"], set()).add(r["positive"].split()[-1] if r["positive"].startswith("positive") else r["negative"].split()[-1])
    assert all(len(v) == 1 for v in by_group.values())  # a group is one record's rows
    with pytest.raises(IfirError, match="general_fraction"):
        build_rows(recs, budget=16, mix=mix, seed=3, general_fraction=1.0)


def test_budget_errors_are_clear():
    with pytest.raises(IfirError, match="odd"):
        build_rows([record(i) for i in range(4)], budget=5, mix="dual-view", seed=0)
    with pytest.raises(IfirError, match="needs 4 kept examples, but only 2"):
        build_rows([record(0), record(1), record(2, kept=False)], budget=8, mix="dual-view", seed=0)


def test_batches_hold_whole_pairs_and_no_duplicates_across_pairs():
    import datasets

    recs = [record(i) for i in range(10)]
    recs[3]["positive"] = recs[2]["negative"]  # pairs 2 and 3 share a document: never in one batch
    rows, _ = build_rows(recs, budget=20, mix="dual-view", seed=0)
    ds = datasets.Dataset.from_list(rows)
    sampler = PairBatchSampler(ds, batch_size=6, drop_last=False, seed=3)
    for epoch in (0, 1):
        sampler.set_epoch(epoch)
        batches = list(sampler)
        assert len(batches) == len(sampler)
        assert sorted(i for b in batches for i in b) == list(range(20))
        for b in batches:
            labels = [rows[i]["label"] for i in b]
            assert all(labels.count(g) == 2 for g in labels)  # both views of every pair in the batch
            assert not ({2, 3} <= set(labels))
            texts_by_group = {}
            for i in b:
                texts_by_group.setdefault(rows[i]["label"], set()).update(rows[i][c] for c in ("anchor", "positive", "negative"))
            groups = list(texts_by_group.values())
            assert all(not (groups[x] & groups[y]) for x in range(len(groups)) for y in range(x + 1, len(groups)))
    assert list(sampler) == batches  # deterministic in (seed, epoch): resuming skips the right batches


# --- the loss ----------------------------------------------------------------------------

def _loss(minilm_st, mini_batch_size=2):
    from dualview_trainer.loss import PairAwareCachedMNRL

    return PairAwareCachedMNRL(minilm_st, mini_batch_size=mini_batch_size)


@pytest.fixture(scope="module")
def minilm_st():
    from sentence_transformers import SentenceTransformer

    from harness.models.dense import bundled_minilm_path

    return SentenceTransformer(bundled_minilm_path(), device="cpu")


def test_loss_equals_library_loss_when_no_pairs(minilm_st):
    """With every row its own group, the mask is empty: the value must equal sentence-transformers'
    own CachedMultipleNegativesRankingLoss."""
    from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss

    reps = [[torch.randn(3, 8), torch.randn(2, 8)] for _ in range(3)]
    ours = _loss(minilm_st).calculate_loss(reps, torch.arange(5))
    ref = CachedMultipleNegativesRankingLoss(minilm_st, mini_batch_size=2).calculate_loss(reps, None)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_loss_masks_the_sibling_view_copies(minilm_st):
    """Two pairs (rows 0,1 and 2,3): each anchor's softmax runs over its own positive, its own
    negative and the other pair's four documents, computed here by hand."""
    g = torch.Generator().manual_seed(0)
    q, p, n = (torch.nn.functional.normalize(torch.randn(4, 8, generator=g), dim=-1) for _ in range(3))
    p[1], n[1], p[3], n[3] = n[0], p[0], n[2], p[2]  # view B swaps the documents of view A
    labels = torch.tensor([0, 0, 1, 1])
    ours = _loss(minilm_st).calculate_loss([[q], [p], [n]], labels)
    expected = 0.0
    for i in range(4):
        cols = [p[i], n[i]] + [d[j] for d in (p, n) for j in range(4) if labels[j] != labels[i]]
        s = 20.0 * torch.stack([torch.dot(q[i], c) for c in cols])
        expected += -(s[0] - torch.logsumexp(s, 0))
    assert torch.allclose(ours, expected / 4, atol=1e-5)


def test_unmasked_loss_is_the_ablation(minilm_st):
    """training.loss = "mnrl" is sentence-transformers' own loss with no mask. With each query equal
    to its positive, a dual-view anchor's positive also stands in the other view's negative column
    with the same logit: by hand the loss is then at least log 2, while the pair-aware loss is near 0."""
    import math

    from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss

    from dualview_trainer.loss import PairAwareCachedMNRL, make_loss

    unmasked = make_loss(minilm_st, load_config("cpu", {"training.loss": "mnrl"}).training)
    masked = make_loss(minilm_st, load_config("cpu").training)
    assert isinstance(unmasked, CachedMultipleNegativesRankingLoss) and not isinstance(unmasked, PairAwareCachedMNRL)
    assert type(masked) is PairAwareCachedMNRL
    g = torch.Generator().manual_seed(1)
    p, n = (torch.nn.functional.normalize(torch.randn(4, 64, generator=g), dim=-1) for _ in range(2))
    p[1], n[1], p[3], n[3] = n[0], p[0], n[2], p[2]
    reps, labels = [[p.clone()], [p], [n]], torch.tensor([0, 0, 1, 1])
    assert unmasked.calculate_loss(reps, labels).item() >= math.log(2) - 1e-4
    assert masked.calculate_loss(reps, labels).item() < 0.05


def test_one_pass_equals_gradcache_in_loss_and_gradients(minilm_st):
    """A batch that fits one mini-batch skips GradCache's extra pass; the loss and every parameter's
    gradient must be those of the cached path (mini-batches of 2 over the same 4 rows)."""
    from dualview_trainer.loss import PairAwareCachedMNRL

    texts = [["claim one", "claim one again", "claim two", "claim two again"],
             ["doc a", "doc b", "doc c", "doc d"], ["doc b", "doc a", "doc d", "doc c"]]
    labels = torch.tensor([0, 0, 1, 1])
    out = []
    for mini in (4, 2):  # 4: one pass; 2: GradCache
        minilm_st.zero_grad()
        loss = PairAwareCachedMNRL(minilm_st, mini_batch_size=mini)
        features = [minilm_st.tokenize(t) for t in texts]
        value = loss(features, labels)
        value.backward()
        grads = [p.grad.detach().clone() for p in minilm_st.parameters() if p.grad is not None]
        out.append((value.item(), grads))
    (one, g1), (cached, g2) = out
    assert one == pytest.approx(cached, abs=1e-5) and len(g1) == len(g2)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(g1, g2))
    minilm_st.zero_grad()


# --- validation --------------------------------------------------------------------------

def test_simple_checks():
    ex = Example("1", "does aspirin prevent stroke", "", "positive text about aspirin trials", "negative text")
    v = Validation(min_words=3, max_words=10)
    assert check_instruction("", ex, v) == "empty"
    assert check_instruction("Find it", ex, v) == "too_short"
    assert check_instruction(" ".join(["word"] * 11), ex, v) == "too_long"
    assert check_instruction("does aspirin prevent stroke?", ex, v) == "copy_of_query"
    assert check_instruction("Find documents about trials.", ex, v, against="Find documents about trials") == "copy_of_instruction"
    assert check_instruction("text about aspirin trials", ex, v) == "copy_of_document"
    # SmolLM2 wrote this for a real SciFact pair: it quotes the document instead of constraining
    smoking = Example("2", "smoking reduction", "", "Effect of smoking reduction on lung cancer risk. CONTEXT Many smokers "
                      "are unable or unwilling to quit smoking.", "negative text")
    quoted = 'Find documents like "Effect of smoking reduction on lung cancer risk. CONTEXT Many smokers are unable ...".'
    assert check_instruction(quoted, smoking, Validation(min_words=3, max_words=40)) == "quotes_document"
    assert check_instruction("Find documents on the effect of smoking reduction on cancer.", smoking,
                             Validation(min_words=3, max_words=40)) is None  # 5 shared words in a row: allowed
    assert check_instruction("Find documents on bleeding risks only.", ex, v, against="Find documents on trials") is None


def test_validation_filter_counts_and_logs_rejections(tmp_path):
    examples = [Example(f"x{i}", f"query {i}", f"Find documents about subject {i}", f"positive {i}", f"negative {i}") for i in range(6)]
    llm = ScriptedLLM(copy_every=3)  # every third reply is "the same": "Find documents the same" is too short
    synth = Synthesizer(llm, validation=Validation(judge=True, min_words=5, max_words=30, swap_check=False), chunk_size=4)
    logged = []
    records, stats = synthesize(examples, synth, tmp_path / "s.jsonl", log=logged.append)
    assert stats.kept + stats.rejected == 6 == len(records) == len(logged)
    assert stats.rejected == sum(stats.rejected_by_reason.values()) == sum("rejected" in m for m in logged) == 2
    assert dict(stats.rejected_by_reason) == {"complement_too_short": 2}
    assert all(r["complement"].startswith("Find documents about the opposite of") for r in records if r["kept"])
    assert all(r["provenance"]["prompt_hash"].startswith("sha256:") for r in records)
    on_disk = [json.loads(l) for l in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert [r["id"] for r in on_disk] == [f"x{i}" for i in range(6)]

    stubborn = Synthesizer(ScriptedLLM(stubborn_judge=True), validation=Validation(judge=True, swap_check=False), chunk_size=4)
    _, stats = synthesize(examples, stubborn, tmp_path / "t.jsonl")
    assert stats.kept == 0 and dict(stats.rejected_by_reason) == {"judge_complement_view": 6}
    no_judge = Synthesizer(ScriptedLLM(stubborn_judge=True), validation=Validation(judge=False, swap_check=False), chunk_size=4)
    assert synthesize(examples, no_judge, tmp_path / "u.jsonl")[1].kept == 6


def test_everything_rejected_gives_a_clear_error(tmp_path):
    from dualview_trainer.job import JobOptions, run_job

    src = tmp_path / "ex.jsonl"
    src.write_text("".join(json.dumps({"query": f"aspirin stroke q{i}", "instruction": f"Find documents about {i} things",
                                       "positive": f"positive aspirin {i}", "negative": f"negative aspirin stroke {i}"}) + "\n" for i in range(4)))
    with pytest.raises(IfirError, match="every synthesized instruction was rejected"):
        run_job(JobOptions(source=str(src), out=tmp_path / "out", budget=4), llm=ScriptedLLM(stubborn_judge=True), log=lambda m: None)
    assert not (tmp_path / "out" / "model.safetensors").exists()
    unmatched = tmp_path / "unmatched.jsonl"
    unmatched.write_text(json.dumps({"query": "aspirin stroke", "positive": "aspirin", "negative": "coral reefs"}) + "\n")
    with pytest.raises(IfirError, match="no example's negative matches its query"):
        run_job(JobOptions(source=str(unmatched), out=tmp_path / "out2", budget=2), llm=ScriptedLLM(), log=lambda m: None)


# --- resume ------------------------------------------------------------------------------

def test_synthesis_resumes_without_repeats_or_losses(tmp_path):
    examples = [Example(f"x{i}", f"query {i}", f"Find documents about subject {i}", f"positive {i}", f"negative {i}") for i in range(10)]
    path = tmp_path / "s.jsonl"
    synth = Synthesizer(ScriptedLLM(), validation=Validation(judge=False, swap_check=False), chunk_size=4)

    class Interrupt(Exception):
        pass

    seen = []

    def stop_after_five(rec):
        seen.append(rec)
        if len(seen) == 5:
            raise Interrupt

    with pytest.raises(Interrupt):
        synthesize(examples, synth, path, on_record=stop_after_five)
    with open(path, "a") as f:
        f.write('{"id": "x5", "trunc')  # a write cut off by the interruption
    assert len(read_done(path)) == 5
    llm2 = ScriptedLLM()
    records, stats = synthesize(examples, Synthesizer(llm2, validation=Validation(judge=False, swap_check=False), chunk_size=4), path)
    ids = [json.loads(l)["id"] for l in path.read_text().splitlines()]
    assert sorted(ids) == sorted(e.id for e in examples) and len(ids) == 10
    assert stats.resumed == 5 and llm2.calls == 5  # only the five unfinished examples went to the LLM
    assert [r["id"] for r in records] == [e.id for e in examples]


def test_synthesis_refuses_to_mix_prompts(tmp_path):
    ex = [Example("x0", "q", "Find documents about one thing", "p", "n")]
    path = tmp_path / "s.jsonl"
    synthesize(ex, Synthesizer(ScriptedLLM(), validation=Validation(judge=False)), path)
    other = Synthesizer(ScriptedLLM(), validation=Validation(judge=False), prompts={"first_instruction": "a", "complement": "b", "judge": "c"})
    with pytest.raises(IfirError, match="another LLM or prompt"):
        synthesize(ex, other, path)


# --- sources -----------------------------------------------------------------------------

def test_beir_training_split_only(shared_data, tmp_path):
    """Mining reads qrels/train.tsv only: it works with the test qrels removed, and no example
    uses a test query."""
    src = shared_data / "scifact"
    copy = tmp_path / "scifact-train-only"
    (copy / "qrels").mkdir(parents=True)
    for f in ("corpus.jsonl", "queries.jsonl"):
        (copy / f).symlink_to(src / f)
    (copy / "qrels" / "train.tsv").symlink_to(src / "qrels" / "train.tsv")
    examples = from_beir(copy, limit=20, seed=0)
    assert len(examples) == 20
    test_qids = {l.split("\t")[0] for l in (src / "qrels" / "test.tsv").read_text().splitlines()[1:]}
    train = {}
    for l in (src / "qrels" / "train.tsv").read_text().splitlines()[1:]:
        q, d, r = l.split("\t")
        train.setdefault(q, {})[d] = int(r)
    for ex in examples:
        assert ex.query_id not in test_qids
        assert train[ex.query_id].get(ex.positive_id, 0) > 0
        assert ex.negative_id not in train[ex.query_id]
        assert ex.instruction == ""


def test_hub_row_schemas():
    p = from_promptriever_row({"query_id": "7", "query": "q full", "only_query": "q", "only_instruction": "Only recent work.",
                               "has_instruction": True, "positive_passages": [{"docid": "1", "title": "T", "text": "pos"}],
                               "negative_passages": [{"docid": "2", "title": "", "text": "neg"}]})
    assert (p.query, p.instruction, p.positive, p.negative, p.negative_id) == ("q", "Only recent work.", "T pos", "neg", "2")
    assert from_promptriever_row({"has_instruction": False, "only_instruction": ""}) is None
    i = from_infir_row({"query_positive": "q", "instruction_positive": "i", "document_positive": "d+",
                        "query_negative": "q2", "instruction_negative": "i2", "hard_negative_document_1": "d-", "hard_negative_document_2": "x"})
    assert (i.query, i.instruction, i.positive, i.negative) == ("q", "i", "d+", "d-")


def test_hub_source_offline_is_one_clear_error(monkeypatch):
    from dualview_trainer.examples import from_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(IfirError, match="needs the hub"):
        from_hub("samaya-ai/msmarco-w-instructions", limit=2, seed=0)


# --- HTTP backend ------------------------------------------------------------------------

def _reply(prompt: str) -> str:
    """The test server's answer: an instruction that differs per prompt."""
    return f"Find documents about {prompt[:10]} #{zlib.crc32(prompt.encode()) % 1000}"


class _Handler(BaseHTTPRequestHandler):
    script: list = []
    requests: list = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        status = type(self).script.pop(0) if type(self).script else 200
        if status != 200:
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b'{"error": "busy"}')
            return
        if body.get("logprobs"):
            reply = {"choices": [{"message": {"content": "yes"}, "logprobs": {"content": [{"token": "yes", "top_logprobs": [
                {"token": "yes", "logprob": -0.1}, {"token": "no", "logprob": -2.4}]}]}}]}
        else:
            reply = {"choices": [{"message": {"content": _reply(body["messages"][-1]["content"])}}]}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    _Handler.script, _Handler.requests = [], []
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()


def test_http_backend_retries_500_and_429(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    _Handler.script = [500, 429]
    llm = HTTPLLM(server, "tiny", backoff=0.01, concurrency=1)
    out = llm.generate([[{"role": "user", "content": "hello world"}]], Sampling(max_new_tokens=5, seed=3))
    assert out == [_reply("hello world")]
    assert len(_Handler.requests) == 3
    req = _Handler.requests[-1]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    assert req["body"]["max_tokens"] == 5 and req["body"]["model"] == "tiny" and req["body"]["seed"] == 3


def test_http_backend_concurrency_prefix_and_logprob_judge(server):
    llm = HTTPLLM(server, "tiny", backoff=0.01, concurrency=3)
    prompts = [[{"role": "user", "content": f"prompt {i:02d}"}, {"role": "assistant", "content": "Find documents"}] for i in range(7)]
    out = llm.generate(prompts, Sampling())
    assert out == [_reply(f"prompt {i:02d}").removeprefix("Find documents ") for i in range(7)]  # in order, prefix not repeated
    assert all(r["body"]["messages"][-1]["role"] == "user" for r in _Handler.requests)
    import math
    s = llm.yes_no([[{"role": "user", "content": "judge"}]])
    assert s[0] == pytest.approx(math.log(math.exp(-0.1) + 1e-6) - math.log(math.exp(-2.4) + 1e-6))


def test_http_backend_gives_up_with_one_clear_error(server):
    _Handler.script = [503] * 10
    with pytest.raises(IfirError, match="failed after 3 attempts"):
        HTTPLLM(server, "tiny", backoff=0.01, max_retries=2).generate([[{"role": "user", "content": "x"}]], Sampling())
    with pytest.raises(IfirError, match="failed after 2 attempts"):
        HTTPLLM("http://127.0.0.1:9/v1", "tiny", backoff=0.01, max_retries=1).generate([[{"role": "user", "content": "x"}]], Sampling())


# --- configs -----------------------------------------------------------------------------

def test_configs_parse_and_override():
    cpu, gpu = load_config("cpu"), load_config("gpu", {"training.per_device_train_batch_size": 4, "model.base": None})
    assert cpu.file == "cpu.toml" and cpu.model.base == "minilm" and not cpu.training.bf16
    assert cpu.synthesis.backend == "rules" and cpu.mining.depth == 30 and cpu.training.max_seq_length == 160
    assert gpu.training.bf16 and gpu.training.gradient_checkpointing
    assert gpu.model.base == "Snowflake/snowflake-arctic-embed-m-v2.0"
    assert gpu.training.per_device_train_batch_size == 4
    with pytest.raises(IfirError, match="Unknown --config"):
        load_config("tpu")


def test_gpu_config_builds_training_arguments_on_cpu(tmp_path):
    """The GPU recipe's arguments parse here (bf16 and checkpointing switched off: no GPU)."""
    from dualview_trainer.train import training_arguments

    cfg = load_config("gpu", {"training.bf16": False})
    args = training_arguments(cfg, tmp_path, seed=1, max_steps=3)
    assert args.gradient_checkpointing and args.per_device_train_batch_size == 256 and args.max_steps == 3
    assert args.batch_sampler is PairBatchSampler


# --- training (real MiniLM, tiny budgets) -------------------------------------------------

def load_config_text(name: str) -> str:
    from importlib import resources

    return resources.files("dualview_trainer").joinpath("configs", f"{name}.toml").read_text(encoding="utf-8")


def _tiny_cfg(**training):
    return load_config("cpu", {"training.per_device_train_batch_size": 4, "training.mini_batch_size": 2,
                               "training.save_steps": 2, "training.num_train_epochs": 1, **{f"training.{k}": v for k, v in training.items()}})


def _scifact_records(shared_data, n):
    """Real SciFact training pairs; the complement is written here by hand (no LLM needed to test training)."""
    exs = from_beir(shared_data / "scifact", limit=n, seed=0)
    return [{**e.to_dict(), "instruction": "Find documents that support the claim.",
             "complement": f"Find documents about {e.negative.split('.')[0][:80]} instead.", "kept": True} for e in exs]


def test_training_resumes_after_an_interruption(shared_data, tmp_path):
    from transformers import TrainerCallback

    from dualview_trainer.train import resolve_base_model, train_model

    rows, _ = build_rows(_scifact_records(shared_data, 8), budget=16, mix="dual-view", seed=0)
    cfg = _tiny_cfg()
    base_path, base = resolve_base_model("minilm")
    assert base["name"] == "sentence-transformers/all-MiniLM-L6-v2"

    class Crash(Exception):
        pass

    class CrashAtStep3(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == 3:
                raise Crash

    out = tmp_path / "model"
    with pytest.raises(Crash):
        train_model(rows, cfg, out, base_path=base_path, seed=0, callbacks=[CrashAtStep3()])
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    # resuming with another learning rate, or other rows, would mix two runs into one model: refused
    other = _tiny_cfg(learning_rate=5e-5)
    assert other.training.learning_rate != cfg.training.learning_rate
    with pytest.raises(IfirError, match="training.learning_rate") as e:
        train_model(rows, other, out, base_path=base_path, seed=0)
    assert "delete that folder" in str(e.value)
    with pytest.raises(IfirError, match="rows"):
        train_model(rows[:8], cfg, out, base_path=base_path, seed=0)
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    result = train_model(rows, cfg, out, base_path=base_path, seed=0)
    assert result["resumed_from"].endswith("checkpoint-2")
    assert result["steps"] == 4  # 16 rows / 4 per batch, one epoch
    assert [s for s, _ in result["loss_curve"]] == [1, 2, 3, 4]
    assert not (out / "checkpoints").exists()

    from harness.models import load_model

    trained = load_model(str(out))
    base_model = load_model("minilm")
    text = [rows[0]["anchor"]]
    assert not torch.allclose(torch.tensor(trained.encode(text, kind="query", batch_size=1)),
                              torch.tensor(base_model.encode(text, kind="query", batch_size=1)))


def test_one_command_job_writes_a_scorable_model_and_card(shared_data, tmp_path):
    """The whole job through the CLI command: real SciFact training pairs, complements from an
    OpenAI-compatible test server (judge off), MiniLM trained, then scored by the harness."""
    from click.testing import CliRunner

    from dualview_trainer.cli import train_dualview

    src = tmp_path / "pairs.jsonl"
    src.write_text("".join(json.dumps({k: r[k] for k in ("id", "query", "instruction", "positive", "negative")}) + "\n"
                           for r in _scifact_records(shared_data, 6)))
    _Handler.script, _Handler.requests = [], []
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        out = tmp_path / "out"
        # the test server's replies are not checkable constraints: the swap check is tested elsewhere
        config = tmp_path / "cpu-no-swap-check.toml"
        config.write_text(load_config_text("cpu").replace("swap_check = true", "swap_check = false"))
        res = CliRunner().invoke(train_dualview, [
            "--source", str(src), "--out", str(out), "--budget", "8", "--mix", "dual-view", "--config", str(config),
            "--llm", f"http://127.0.0.1:{httpd.server_address[1]}/v1", "--llm-model", "tiny", "--no-judge",
            "--batch-size", "4", "--epochs", "1",
        ], catch_exceptions=False)
    finally:
        httpd.shutdown()
    assert res.exit_code == 0, res.output
    card = json.loads((out / "training_card.json").read_text())
    assert list(card) == ["schema_version", "base_model", "data", "llm", "config", "seed", "seconds",
                          "examples_per_second", "loss_curve", "created_at", "command"]
    assert card["data"]["n_examples"] == 8 and card["data"]["n_pairs"] == 4 and card["data"]["kept"] >= 4
    assert card["llm"]["backend"] == "openai-http" and card["config"]["file"] == str(config)
    assert card["data"]["synthesis_file"] == "synthesis.jsonl" and not card["data"]["source"].startswith("/")
    assert len(card["loss_curve"]) == 2 and card["examples_per_second"] > 0

    from harness.models import load_model
    from harness.runner import RunOptions, evaluate
    from harness.tasks import load_task

    result, _ = evaluate(load_model(str(out)), load_task("sample"), RunOptions(use_cache=False, show_progress=False))
    assert -1.0 <= result["metrics"]["p-MRR"] <= 1.0


@pytest.mark.slow
def test_smollm2_writes_and_judges_a_real_pair(shared_data, tmp_path):
    """The offline LLM really generates: one SciFact example through the whole synthesis step."""
    from dualview_trainer.llm import load_llm

    ex = from_beir(shared_data / "scifact", limit=2, seed=0)
    synth = Synthesizer(load_llm("smollm2"), sampling=Sampling(max_new_tokens=16), doc_words=12)
    records, stats = synthesize(ex, synth, tmp_path / "s.jsonl")
    assert stats.kept + stats.rejected == 2
    for r in records:
        assert r["instruction"].startswith("Find documents") and len(r["instruction"].split()) > 2
        assert r["provenance"]["llm"]["model"].startswith("HuggingFaceTB/SmolLM2-135M-Instruct")
        if r["judge"]:
            assert all(isinstance(v, float) for view in r["judge"].values() for v in view.values())
