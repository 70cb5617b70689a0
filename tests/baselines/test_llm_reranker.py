"""Pointwise LLM rerankers on tiny randomly initialised local models built here (Mistral, Qwen3, T5), with
tokenizers built here too (word-level ones, and SentencePiece ones in Mistral's and monoT5's layouts): the
exact prompt strings are checked against the model cards' text typed out below, and the scores against the
cards' / mteb's own scoring code run on the same model."""

from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
import torch

from baselines.llm_reranker import FORMATS, LLMReranker
from harness.errors import IfirError
from harness.models import load_model
from harness.models.registry import check_spec
from harness.models.locate import path_fingerprint
from harness.ranking import ranked
from harness.runner import RunOptions, evaluate
from harness.tasks import load_task
from harness.types import Document, Query, base_query_id

pytestmark = pytest.mark.filterwarnings("ignore")

TOPICS = ("q01", "q02")
QUERY = Query("x", "urban beekeeping impact on bees", "Documents about rural beekeeping are not relevant.")
DOC = Document("d", "Honey bee colonies in city parks produced more honey.", "Urban hives")


@pytest.fixture(scope="module")
def sample():
    task = load_task("sample")
    keep = [q for q in task.queries if base_query_id(q) in TOPICS]
    return replace(
        task,
        queries={q: task.queries[q] for q in keep},
        candidates={q: task.candidates[q][:3] for q in keep},
        qrels={q: task.qrels[q] for q in keep},
        changed_docs={q: task.changed_docs[q] for q in TOPICS},
    )


def word_tokenizer(folder, texts, specials, *, bos=None, eos=None, pad=None, template=None):
    """A fast word-level tokenizer over `texts` (every whitespace character its own token), saved in `folder`."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    split = pre_tokenizers.Split(Regex(r"\s"), behavior="isolated")
    words = {w for t in texts for w, _ in split.pre_tokenize_str(t)}
    extra = ["true", "false", "▁true", "▁false", "yes", "no"]
    vocab = {w: i for i, w in enumerate(dict.fromkeys([*specials, *extra, *sorted(words)]))}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=specials[-1]))
    tok.pre_tokenizer = split
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(specials)
    if template:
        tok.post_processor = processors.TemplateProcessing(single=template, special_tokens=[(s, vocab[s]) for s in (bos, eos) if s and s in template])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad, unk_token=specials[-1])
    fast.save_pretrained(folder)
    return vocab


def corpus_texts(task) -> list[str]:
    docs = [f"{d.title} {d.text}" for d in task.corpus.values()]
    queries = [f"{q.text} {q.instruction}" for q in task.queries.values()]
    return [f.template for f in FORMATS.values()] + docs + queries + [QUERY.text, QUERY.instruction, DOC.title, DOC.text]


@pytest.fixture(scope="module")
def mistral_dir(tmp_path_factory, sample):
    """A tiny Mistral causal LM in a folder named like FollowIR-7B (so its format is found by name)."""
    from transformers import MistralConfig, MistralForCausalLM

    folder = tmp_path_factory.mktemp("models") / "FollowIR-7B"
    vocab = word_tokenizer(folder, corpus_texts(sample), ["<s>", "</s>", "<unk>"], bos="<s>", eos="</s>", template="<s> $A")
    torch.manual_seed(0)
    config = MistralConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=4096, bos_token_id=0, eos_token_id=1, initializer_range=0.2,
    )
    MistralForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def mistral_sp_dir(tmp_path_factory, sample):
    """The same tiny Mistral with a tokenizer in Mistral's own layout: a SentencePiece BPE `tokenizer.model`
    with byte fallback and no tokenizer.json, loaded as transformers' LlamaTokenizer."""
    import sentencepiece
    from transformers import MistralConfig, MistralForCausalLM

    folder = tmp_path_factory.mktemp("models") / "FollowIR-7B"
    folder.mkdir()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus_texts(sample)), model_prefix=str(folder / "tokenizer"), vocab_size=800, model_type="bpe",
        byte_fallback=True, normalization_rule_name="identity", unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        user_defined_symbols=["true", "false"], minloglevel=2,
    )
    config = {"tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "legacy": True, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    torch.manual_seed(3)
    config = MistralConfig(
        vocab_size=800, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=4096, bos_token_id=1, eos_token_id=2, initializer_range=0.2,
    )
    MistralForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def qwen3_dir(tmp_path_factory, sample):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    folder = tmp_path_factory.mktemp("models") / "tiny-qwen3"
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<unk>"]
    vocab = word_tokenizer(folder, corpus_texts(sample), specials, eos="<|im_end|>", pad="<|endoftext|>")
    torch.manual_seed(1)
    config = Qwen3Config(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=8, max_position_embeddings=4096, initializer_range=0.2,
        pad_token_id=0, eos_token_id=2,
    )
    Qwen3ForCausalLM(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def t5_dir(tmp_path_factory, sample):
    """A tiny T5 in castorini's monoT5 folder layout: a SentencePiece `spiece.model` and no tokenizer.json."""
    import sentencepiece
    from transformers import T5Config, T5ForConditionalGeneration

    folder = tmp_path_factory.mktemp("models") / "tiny-t5"
    folder.mkdir()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus_texts(sample)), model_prefix=str(folder / "spiece"), vocab_size=500,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, user_defined_symbols=["▁true", "▁false"], minloglevel=2,
    )
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "T5Tokenizer", "model_max_length": 512, "extra_ids": 0}))
    torch.manual_seed(2)
    config = T5Config(
        vocab_size=500, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, initializer_factor=4.0,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )
    T5ForConditionalGeneration(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def followir(mistral_dir):
    return load_model(f"llm-reranker:{mistral_dir}", batch_size=4)


def pairs_of(task):
    return [(task.queries[q], task.corpus[d]) for q in task.candidates for d in task.candidates[q]]


def test_followir_prompt_is_the_cards_string(followir):
    """The template of the FollowIR-7B card (and mteb's FollowIRReranker), query and instruction joined by a space."""
    assert followir.prompt(QUERY, DOC) == (
        "<s> [INST] You are an expert Google searcher, whose job is to determine if the following document is relevant "
        "to the query (true/false). Answer using only one word, one of those two choices.\n\n"
        "Query: urban beekeeping impact on bees Documents about rural beekeeping are not relevant.\n"
        "Document: Urban hives Honey bee colonies in city parks produced more honey.\n"
        'Relevant (only output one word, either "true" or "false"): [/INST] '
    )
    ids = followir.token_ids([(QUERY, DOC)])[0]
    assert ids[:2] == [0, 0]  # the card's literal "<s>" after the BOS its tokenizer adds, as the card runs it


def test_mistral_and_monot5_prompts(mistral_dir, t5_dir):
    mistral = load_model(f"llm-reranker:{mistral_dir},format=mistral-instruct")
    assert mistral.prompt(QUERY, DOC) == (
        "<s>[INST] You are an expert Google searcher, whose job is to determine if the following document is relevant "
        "to the query (true/false).\nQuery: urban beekeeping impact on bees Documents about rural beekeeping are not "
        'relevant.\nDocument: Urban hives Honey bee colonies in city parks produced more honey.\nRelevant (either "true" '
        'or "false"): [/INST]'
    )
    monot5 = load_model(f"llm-reranker:{t5_dir}")
    assert monot5.meta.extra["prompt_format"] == "monot5"
    assert monot5.prompt(QUERY, DOC) == (
        "Query: urban beekeeping impact on bees Documents about rural beekeeping are not relevant. "
        "Document: Urban hives Honey bee colonies in city parks produced more honey. Relevant:"
    )


def test_qwen3_prompt_keeps_the_instruction_in_its_own_field(qwen3_dir):
    qwen = load_model(f"llm-reranker:{qwen3_dir}")
    system = (
        "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the Instruct "
        'provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
    )
    answer = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert qwen.prompt(QUERY, DOC) == (
        system + "<Instruct>: Documents about rural beekeeping are not relevant.\n<Query>: urban beekeeping impact on bees\n"
        "<Document>: Urban hives Honey bee colonies in city parks produced more honey." + answer
    )
    plain = replace(QUERY, instruction="")  # no instruction: the card's default one
    assert qwen.prompt(plain, DOC) == (
        system + "<Instruct>: Given a web search query, retrieve relevant passages that answer the query\n"
        "<Query>: urban beekeeping impact on bees\n<Document>: Urban hives Honey bee colonies in city parks produced more honey." + answer
    )


def card_causal_probabilities(folder, prompts, yes, no):
    """The FollowIR-7B card's scoring code: left-padded batch, last-position logits, p(true) from a
    log-softmax over the two tokens."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder, padding_side="left")
    tokenizer.pad_token = tokenizer.eos_token
    tokens = tokenizer(prompts, padding=True, truncation=True, return_tensors="pt", max_length=2048)
    tokens.pop("token_type_ids", None)
    with torch.no_grad():
        logits = model(**tokens).logits[:, -1, :]
    two = torch.stack([logits[:, tokenizer.get_vocab()[no]], logits[:, tokenizer.get_vocab()[yes]]], dim=1)
    return torch.nn.functional.log_softmax(two.float(), dim=1)[:, 1].exp().tolist(), model


def test_followir_scores_are_the_cards_logits(followir, mistral_dir, sample):
    pairs = pairs_of(sample)
    scores = followir.score(pairs, show_progress=False)
    card, model = card_causal_probabilities(mistral_dir, [followir.prompt(q, d) for q, d in pairs], "true", "false")
    assert torch.sigmoid(torch.tensor(scores)).tolist() == pytest.approx(card, abs=1e-5)
    assert max(scores) - min(scores) > 0.1  # the tiny model does tell the prompts apart
    vocab = followir.tokenizer.get_vocab()
    for (q, d), s in list(zip(pairs, scores))[:3]:  # by hand: one unpadded prompt, logit(true) - logit(false)
        ids = followir.tokenizer(followir.prompt(q, d))["input_ids"]
        with torch.no_grad():
            last = model(torch.tensor([ids])).logits[0, -1]
        two = torch.log_softmax(torch.stack([last[vocab["false"]], last[vocab["true"]]]), dim=0)
        assert s == pytest.approx((last[vocab["true"]] - last[vocab["false"]]).item(), abs=1e-5)
        assert s == pytest.approx((two[1] - two[0]).item(), abs=1e-5)


def test_batching_and_padding_change_no_score(mistral_dir, sample):
    """Prompts of different lengths in one left-padded batch score as they do alone."""
    pairs = pairs_of(sample)
    lengths = {len(ids) for ids in load_model(f"llm-reranker:{mistral_dir}").token_ids(pairs)}
    assert len(lengths) > 3
    one = load_model(f"llm-reranker:{mistral_dir}", batch_size=1).score(pairs, show_progress=False)
    many = load_model(f"llm-reranker:{mistral_dir}", batch_size=16).score(pairs[::-1], show_progress=False)[::-1]
    assert many == pytest.approx(one, abs=1e-5)


def test_bfloat16_scores_are_not_rounded_to_bfloat16(mistral_dir, sample, followir):
    """The GPU default's dtype, run on CPU: the two logits come from the output layer's bf16 input in
    float32, so a score is not rounded to bf16's grid (1/16 near 10, where many documents would tie)."""
    pairs = pairs_of(sample)
    bf16 = load_model(f"llm-reranker:{mistral_dir},dtype=bfloat16", batch_size=4)
    assert bf16.model.dtype == torch.bfloat16 and bf16.meta.extra["precision"] == "bfloat16"
    scores = bf16.score(pairs, show_progress=False)
    exact = followir.score(pairs, show_progress=False)
    assert max(abs(a - b) for a, b in zip(scores, exact)) < 0.05 * (max(exact) - min(exact))
    on_grid = [s for s in scores if s == torch.tensor(s).to(torch.bfloat16).item()]
    assert len(on_grid) < len(scores) // 4


def test_a_batch_out_of_memory_is_split(mistral_dir, sample, followir, monkeypatch):
    """A batch the device cannot hold is scored in halves, with the same scores; one prompt that cannot fit
    is a clear error."""
    reranker = load_model(f"llm-reranker:{mistral_dir}", batch_size=16)
    forward = reranker.model.forward
    sizes = []

    def small_memory(*args, **kwargs):
        sizes.append(len(kwargs["input_ids"]))
        if len(kwargs["input_ids"]) > 3:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return forward(*args, **kwargs)

    monkeypatch.setattr(reranker.model, "forward", small_memory)
    pairs = pairs_of(sample)
    assert reranker.score(pairs, show_progress=False) == pytest.approx(followir.score(pairs, show_progress=False), abs=1e-5)
    assert len(pairs) == 12 and sizes == [12, 6, 3, 3, 6, 3, 3]  # halves until a batch fits
    monkeypatch.setattr(reranker.model, "forward", lambda *a, **k: (_ for _ in ()).throw(torch.OutOfMemoryError("simulated")))
    with pytest.raises(IfirError, match="does not fit in cpu's memory; lower the window"):
        reranker.score(pairs[:1], show_progress=False)


def test_qwen3_ids_and_scores_follow_the_card(qwen3_dir, sample):
    """The Qwen3-Reranker card's process_inputs (prefix + truncated pair + suffix) and compute_logits."""
    from transformers import AutoTokenizer

    pairs = [(sample.queries["q01-changed"], sample.corpus[d]) for d in sample.candidates["q01-changed"]] + [(QUERY, DOC)]
    lengths = [len(ids) for ids in load_model(f"llm-reranker:{qwen3_dir}").token_ids(pairs)]
    window = sorted(lengths)[1] - 3  # all but QUERY-DOC are cut
    qwen = load_model(f"llm-reranker:{qwen3_dir},max_length={window}", batch_size=4)
    tokenizer = AutoTokenizer.from_pretrained(qwen3_dir, padding_side="left")
    head, tail = FORMATS["qwen3-reranker"].template.split("<Instruct>")[0], "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    prefix, suffix = tokenizer.encode(head, add_special_tokens=False), tokenizer.encode(tail, add_special_tokens=False)
    texts = [f"<Instruct>: {q.instruction}\n<Query>: {q.text}\n<Document>: {qwen.meta.format_doc(d)}" for q, d in pairs]
    body = tokenizer(texts, padding=False, truncation="longest_first", return_attention_mask=False, max_length=window - len(prefix) - len(suffix))
    card_ids = [prefix + ids + suffix for ids in body["input_ids"]]
    assert qwen.token_ids(pairs) == card_ids
    assert [len(ids) == window for ids in card_ids] == [True] * (len(pairs) - 1) + [False]

    inputs = tokenizer.pad({"input_ids": card_ids}, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = qwen.model(**inputs).logits[:, -1, :]
    two = torch.stack([logits[:, tokenizer.convert_tokens_to_ids("no")], logits[:, tokenizer.convert_tokens_to_ids("yes")]], dim=1)
    card = torch.nn.functional.log_softmax(two, dim=1)[:, 1].exp().tolist()
    assert torch.sigmoid(torch.tensor(qwen.score(pairs, show_progress=False))).tolist() == pytest.approx(card, abs=1e-5)


def test_monot5_scores_are_mtebs_first_decoder_step(t5_dir, sample):
    """mteb's MonoT5Reranker: generate one token, log-softmax over ("▁false", "▁true") of its scores."""
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    monot5 = load_model(f"llm-reranker:{t5_dir}", batch_size=3)
    pairs = pairs_of(sample)
    tokenizer = AutoTokenizer.from_pretrained(t5_dir)
    model = AutoModelForSeq2SeqLM.from_pretrained(t5_dir).eval()
    tokens = tokenizer([monot5.prompt(q, d) for q, d in pairs], padding=True, truncation=True, return_tensors="pt", max_length=512)
    tokens.pop("token_type_ids", None)
    with torch.no_grad():
        out = model.generate(**tokens, max_new_tokens=1, return_dict_in_generate=True, output_scores=True)
    vocab = tokenizer.get_vocab()
    two = out.scores[0][:, [vocab["▁false"], vocab["▁true"]]]
    mteb = torch.nn.functional.log_softmax(two.float(), dim=1)[:, 1].exp().tolist()
    scores = monot5.score(pairs, show_progress=False)
    assert torch.sigmoid(torch.tensor(scores)).tolist() == pytest.approx(mteb, abs=1e-5)
    assert monot5.token_ids(pairs[:1])[0][-1] == vocab["</s>"]  # T5's EOS, as its tokenizer adds it


def test_long_documents_are_cut_and_the_prompt_kept(mistral_dir):
    window = 150
    reranker = load_model(f"llm-reranker:{mistral_dir},max_length={window}")
    long_doc = replace(DOC, text=" ".join([DOC.text] * 20))
    ids = reranker.token_ids([(QUERY, long_doc)])[0]
    assert len(ids) == window
    head, doc, tail = reranker.prompt(QUERY, DOC).partition(reranker.meta.format_doc(DOC))
    full_doc = reranker.meta.format_doc(long_doc)
    # By hand: the longest document prefix whose whole prompt fits the window, tokenized as a whole.
    fitting = max(c for c in range(len(full_doc) + 1) if len(reranker.tokenizer(head + full_doc[:c] + tail)["input_ids"]) <= window)
    assert ids == reranker.tokenizer(head + full_doc[:fitting] + tail)["input_ids"]
    assert reranker.tokenizer.decode(ids).endswith('Relevant (only output one word, either "true" or "false"): [/INST] ')
    assert reranker.tokenizer.decode(ids).startswith("<s><s> [INST]")
    before = reranker.timings["documents_truncated"]
    reranker.score([(QUERY, long_doc), (QUERY, DOC)], show_progress=False)
    assert reranker.timings["documents_truncated"] - before == 1
    with pytest.raises(IfirError, match="without its document, more than the window of 20"):
        load_model(f"llm-reranker:{mistral_dir},max_length=20").token_ids([(QUERY, DOC)])


def test_monot5_cut_keeps_relevant_and_eos(t5_dir):
    """With T5's SentencePiece tokenizer too: the document's tail goes, "Relevant:" and </s> stay."""
    window = 120
    monot5 = load_model(f"llm-reranker:{t5_dir},max_length={window}")
    long_doc = replace(DOC, text=" ".join([DOC.text] * 30))
    ids = monot5.token_ids([(QUERY, long_doc)])[0]
    text = monot5.tokenizer.decode(ids, skip_special_tokens=True)
    assert len(ids) == window and ids[-1] == monot5.tokenizer.eos_token_id
    assert text.startswith("Query: urban beekeeping impact on bees Documents about rural") and text.endswith(" Relevant:")
    kept = text.split(" Document: ")[1].removesuffix(" Relevant:")
    assert 20 < len(kept) < len(monot5.meta.format_doc(long_doc)) and monot5.meta.format_doc(long_doc).startswith(kept)


def test_followir_on_a_mistral_sentencepiece_tokenizer(mistral_sp_dir, sample):
    """Mistral's tokenizer layout: the card's "<s>" and the tokenizer's BOS, the card's scores, a cut document."""
    reranker = load_model(f"llm-reranker:{mistral_sp_dir}", batch_size=5)
    pairs = pairs_of(sample)
    assert [ids[:3] for ids in reranker.token_ids(pairs[:2])] == [[1, 1, reranker.tokenizer.convert_tokens_to_ids("▁")]] * 2
    card, _ = card_causal_probabilities(mistral_sp_dir, [reranker.prompt(q, d) for q, d in pairs], "true", "false")
    scores = reranker.score(pairs, show_progress=False)
    assert torch.sigmoid(torch.tensor(scores)).tolist() == pytest.approx(card, abs=1e-5)
    window = len(reranker.token_ids([(QUERY, DOC)])[0]) + 25
    cut = load_model(f"llm-reranker:{mistral_sp_dir},max_length={window}")
    ids = cut.token_ids([(QUERY, replace(DOC, text=" ".join([DOC.text] * 20)))])[0]
    text = cut.tokenizer.decode(ids)
    assert len(ids) == window and text.startswith("<s><s> [INST] You are an expert Google searcher")
    assert "\nDocument: Urban hives Honey bee colonies in city parks" in text
    # The cut prompt ends in the same tokens as the uncut one (how a trailing "▁" decodes differs
    # between tokenizer versions, so the ids are compared, and the text as that version decodes it).
    full = cut.token_ids([(QUERY, DOC)])[0]
    full_text = cut.tokenizer.decode(full)
    tail = full_text[full_text.index('\nRelevant (only output one word, either "true" or "false"): [/INST]'):]
    assert text.endswith(tail) and ids[-12:] == full[-12:]


def test_meta_records_format_template_and_revision(followir, mistral_dir):
    meta = followir.meta
    assert (meta.kind, meta.name, meta.revision) == ("reranker", "FollowIR-7B", path_fingerprint(mistral_dir))
    assert meta.extra["prompt_format"] == "followir"
    assert meta.extra["prompt_template"] == meta.query_prompt == FORMATS["followir"].template
    assert meta.extra["tokens"] == {"yes": "true", "no": "false"}
    assert (meta.extra["precision"], meta.extra["max_seq_length"]) == ("float32", 2048)  # on CPU; the window mteb and FollowIR use
    assert "huggingface.co/jhu-clsp/FollowIR-7B" in meta.extra["prompt_source"]
    assert json.loads(json.dumps(meta.to_dict())) == meta.to_dict()


def test_each_distinct_prompt_is_scored_once(followir, sample):
    q = sample.queries["q01-og"]
    docs = sample.candidates["q01-og"][:3]
    queries = {"a": q, "b": replace(q, id="b"), "c": replace(q, instruction="")}
    before = followir.timings["pairs_scored"]
    run = followir.rerank(sample.corpus, queries, {"a": docs, "b": docs[:2], "c": docs[:1]})
    assert followir.timings["pairs_scored"] - before == 3 + 1  # "b" repeats "a"; "c" differs by its instruction
    assert run["b"] == {d: run["a"][d] for d in docs[:2]} and run["c"][docs[0]] != run["a"][docs[0]]


def test_reranks_followir_candidates_alone_and_after_bm25(mistral_dir, sample):
    alone, run = evaluate(load_model(f"llm-reranker:{mistral_dir}"), sample, RunOptions(show_progress=False))
    assert {q: set(d) for q, d in run.items()} == {q: set(sample.candidates[q]) for q in sample.queries}
    assert -1 <= alone["metrics"]["p-MRR"] <= 1 and alone["model"]["extra"]["prompt_format"] == "followir"
    _, bm25_run = evaluate(load_model("bm25"), sample, RunOptions(show_progress=False))
    piped, prun = evaluate(load_model(f"bm25>>llm-reranker:{mistral_dir}", rerank_depth=2), sample, RunOptions(show_progress=False))
    assert piped["model"]["extra"]["stages"][1]["extra"]["prompt_format"] == "followir"
    for q in sample.queries:  # bm25's top 2, scored by the LLM as when it runs alone, above the rest in bm25's order
        head, rest = ranked(bm25_run[q])[:2], ranked(bm25_run[q])[2:]
        assert ranked(prun[q]) == ranked({d: run[q][d] for d in head}) + rest
        assert [prun[q][d] for d in head] == pytest.approx([run[q][d] for d in head], abs=1e-5)


def test_qwen3_gets_the_instruction_through_the_runner(qwen3_dir, sample):
    """Through the runner the instruction reaches Qwen3's own <Instruct> field, not the default one."""
    qwen = load_model(f"llm-reranker:{qwen3_dir}", batch_size=8)
    _, run = evaluate(qwen, sample, RunOptions(show_progress=False))
    pairs = [(q, d) for q in sample.candidates for d in sample.candidates[q]]
    direct = qwen.score([(sample.queries[q], sample.corpus[d]) for q, d in pairs], show_progress=False)
    assert [run[q][d] for q, d in pairs] == pytest.approx(direct, abs=1e-5)
    plain = qwen.score([(replace(sample.queries[q], instruction=""), sample.corpus[d]) for q, d in pairs], show_progress=False)
    assert max(abs(a - b) for a, b in zip(direct, plain)) > 1e-3


def test_result_identity_covers_format_window_and_precision(mistral_dir, sample):
    """A result is never reused across prompt formats, windows or precisions of the same folder."""
    from harness.runner import result_identity

    def identity(spec):
        return result_identity(load_model(spec), sample, RunOptions(show_progress=False))

    base = identity(f"llm-reranker:{mistral_dir}")
    assert base == identity(f"llm-reranker:{mistral_dir},format=followir")
    for option in ("format=mistral-instruct", "max_length=1024", "dtype=bfloat16"):
        assert identity(f"llm-reranker:{mistral_dir},{option}") != base, option


def test_format_and_revision_pins(tmp_path, mistral_dir, monkeypatch):
    import harness.models.locate as locate

    unnamed = tmp_path / "some-llm"
    unnamed.symlink_to(mistral_dir, target_is_directory=True)
    with pytest.raises(IfirError, match="No known prompt format.*format=NAME"):
        load_model(f"llm-reranker:{unnamed}")
    with pytest.raises(IfirError, match="Unknown llm-reranker format 'rankgpt'"):
        load_model(f"llm-reranker:{unnamed},format=rankgpt")
    with pytest.raises(IfirError, match="Bad llm-reranker option 'depth=3'"):
        load_model(f"llm-reranker:{unnamed},depth=3")
    with pytest.raises(IfirError, match="needs a model"):
        load_model("llm-reranker")
    with pytest.raises(IfirError, match="Bad llm-reranker max_length '0'"):
        load_model(f"llm-reranker:{mistral_dir},max_length=0")
    with pytest.raises(IfirError, match="Bad llm-reranker dtype 'fp8'"):
        load_model(f"llm-reranker:{mistral_dir},dtype=fp8")
    with pytest.raises(IfirError, match="runs on one device"):
        load_model(f"llm-reranker:{mistral_dir}", device="cuda:0,cuda:1")
    asked = []

    def offline(repo_id, revision=None, **_):
        asked.append((repo_id, revision))
        raise IfirError("offline")

    check_spec(f"bm25>>llm-reranker:{mistral_dir},max_length=64,dtype=float32")  # the CLI's check before loading
    with pytest.raises(IfirError, match="download jhu-clsp/FollowIR-7B --revision 4d25d437e38b510c01852070c0731e8f6e1875d1"):
        check_spec("bm25>>llm-reranker:jhu-clsp/FollowIR-7B,format=followir")
    monkeypatch.setattr(locate, "snapshot", offline)
    for spec in ("jhu-clsp/FollowIR-7B", "Qwen/Qwen3-Reranker-0.6B@main"):
        with pytest.raises(IfirError, match="offline"):
            load_model(f"llm-reranker:{spec}")
    assert asked == [("jhu-clsp/FollowIR-7B", "4d25d437e38b510c01852070c0731e8f6e1875d1"), ("Qwen/Qwen3-Reranker-0.6B", "main")]


def test_offline_hub_fails_at_once():
    t0 = time.perf_counter()
    with pytest.raises(IfirError, match="not in the local cache and the hub is offline"):
        LLMReranker("castorini/monot5-base-msmarco")
    assert time.perf_counter() - t0 < 10
