"""Models are encoded as their authors intend: the prompts in a model's own sentence-transformers
config (checked against sentence-transformers' encode_query / encode_document), overrides, the
model catalogue (prompts and formats as mteb's model files give them), and Promptriever's peft
loading on a tiny local Llama with a LoRA."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from sentence_transformers import SentenceTransformer

from harness.errors import IfirError
from harness.metrics.scoring import score
from harness.models import load_model
from harness.models.catalogue import catalogue, find
from harness.models.dense import bundled_minilm_path
from harness.runner import RunOptions, evaluate
from harness.tasks import load_task
from harness.types import Query, base_query_id

E5_PROMPTS = {"query": "query: ", "document": "passage: "}


@pytest.fixture(scope="module")
def prompted_copy(tmp_path_factory):
    """The bundled MiniLM, copied, whose config declares e5-style prompts (as e5, bge, nomic ship)."""
    folder = tmp_path_factory.mktemp("models") / "minilm-prompted"
    shutil.copytree(bundled_minilm_path(), folder)
    config_file = folder / "config_sentence_transformers.json"
    config = json.loads(config_file.read_text())
    config["prompts"] = E5_PROMPTS
    config_file.write_text(json.dumps(config))
    return folder


def test_own_prompts_are_applied_as_encode_query_and_encode_document(prompted_copy):
    model = load_model(str(prompted_copy))
    assert (model.meta.query_prompt, model.meta.doc_prompt) == ("query: ", "passage: ")
    reference = SentenceTransformer(str(prompted_copy), device="cpu")
    texts = ["effects of aspirin on heart attack risk", "Aspirin lowers the risk of a first heart attack."]
    queries, docs = model.encode(texts, kind="query", batch_size=2), model.encode(texts, kind="document", batch_size=2)
    np.testing.assert_allclose(queries, reference.encode_query(texts), atol=1e-6)
    np.testing.assert_allclose(docs, reference.encode_document(texts), atol=1e-6)
    np.testing.assert_allclose(queries, reference.encode(["query: " + t for t in texts]), atol=1e-6)
    assert np.abs(queries - reference.encode(texts)).max() > 0.05  # the prompt really changes the vectors


def test_override_replaces_the_models_prompts(prompted_copy):
    model = load_model(str(prompted_copy), query_prompt="", doc_prompt="text: ")
    assert (model.meta.query_prompt, model.meta.doc_prompt) == ("", "text: ")
    reference = SentenceTransformer(str(prompted_copy), device="cpu")
    texts = ["a claim about vitamin D"]
    np.testing.assert_allclose(model.encode(texts, kind="query", batch_size=1), reference.encode(texts), atol=1e-6)
    np.testing.assert_allclose(
        model.encode(texts, kind="document", batch_size=1), reference.encode(["text: " + texts[0]]), atol=1e-6
    )


def test_cached_vectors_of_one_prompt_never_serve_another(prompted_copy, tmp_path):
    from harness.search import as_searcher

    texts = ["a claim about vitamin D"]
    first = as_searcher(load_model(str(prompted_copy)), cache_dir=tmp_path, show_progress=False).embed(texts, "query").take(slice(None)).numpy()
    override = load_model(str(prompted_copy), query_prompt="")
    second = as_searcher(override, cache_dir=tmp_path, show_progress=False).embed(texts, "query").take(slice(None)).numpy()
    np.testing.assert_allclose(second, override.encode(texts, kind="query", batch_size=1), atol=1e-6)
    assert np.abs(first - second).max() > 1e-3  # a cache hit would give the first vectors back


def _direct_run(st: SentenceTransformer, task, meta) -> dict:
    """The run on the task's candidates from sentence-transformers alone (cosine of its embeddings)."""
    qids = list(task.queries)
    q = st.encode_query([meta.format_query(task.queries[i]) for i in qids], normalize_embeddings=True)
    doc_ids = sorted(task.corpus)
    d = st.encode_document([meta.format_doc(task.corpus[i]) for i in doc_ids], normalize_embeddings=True)
    row = {doc: n for n, doc in enumerate(doc_ids)}
    return {qid: {doc: float(q[n] @ d[row[doc]]) for doc in task.candidates[qid]} for n, qid in enumerate(qids)}


def _first_topics(task, n: int):
    """The task cut to its first n topics (both instructions each) and their candidates, to keep
    three encodings of it quick."""
    keep = {q for q in task.queries if base_query_id(q) in sorted({base_query_id(q) for q in task.queries})[:n]}
    docs = {d for q in keep for d in task.candidates[q]}
    return replace(
        task,
        queries={q: v for q, v in task.queries.items() if q in keep},
        qrels={q: v for q, v in task.qrels.items() if q in keep},
        candidates={q: v for q, v in task.candidates.items() if q in keep},
        changed_docs={q: v for q, v in task.changed_docs.items() if any(base_query_id(k) == q for k in keep)},
        corpus={d: v for d, v in task.corpus.items() if d in docs},
    )


def test_prompted_model_scores_follow_its_prompts_on_sample(prompted_copy, minilm, tmp_path):
    task = _first_topics(load_task("sample"), 5)
    options = RunOptions(cache_dir=tmp_path / "cache", show_progress=False)
    prompted = load_model(str(prompted_copy))
    result, run = evaluate(prompted, task, options)
    assert result["model"]["query_prompt"] == "query: " and result["model"]["doc_prompt"] == "passage: "

    direct = _direct_run(SentenceTransformer(str(prompted_copy), device="cpu"), task, prompted.meta)
    for qid, docs in direct.items():
        np.testing.assert_allclose([run[qid][d] for d in docs], list(docs.values()), atol=1e-5)
    expected, _ = score(task, direct)
    assert result["metrics"]["p-MRR"] == pytest.approx(expected["p-MRR"], abs=1e-9)
    assert result["metrics"]["og"]["nDCG@5"] == pytest.approx(expected["og"]["nDCG@5"], abs=1e-9)

    plain, _ = evaluate(minilm, task, options)  # the same weights without prompts
    assert result["metrics"]["p-MRR"] != pytest.approx(plain["metrics"]["p-MRR"], abs=1e-4)
    assert result["metrics"]["og"]["nDCG@5"] != pytest.approx(plain["metrics"]["og"]["nDCG@5"], abs=1e-4)


def test_catalogue_lists_every_model_with_source_and_pinned_revision():
    entries = catalogue()
    for name in (
        "all-MiniLM-L6-v2", "all-mpnet-base-v2", "bge-small-en-v1.5", "bge-base-en-v1.5", "bge-large-en-v1.5",
        "e5-small-v2", "e5-base-v2", "e5-large-v2", "multilingual-e5-base", "e5-mistral-7b-instruct",
        "snowflake-arctic-embed-m-v2.0", "gte-base-en-v1.5", "nomic-embed-text-v1.5", "Qwen3-Embedding-0.6B",
        "Qwen3-Embedding-4B", "Qwen3-Embedding-8B", "GritLM-7B", "instructor-large", "promptriever-llama2-7b",
    ):
        entry = entries[name]
        assert len(entry.revision) == 40 and entry.source and entry.reference.startswith("https://huggingface.co/")
    assert find("BAAI/bge-base-en-v1.5@abc").name == "bge-base-en-v1.5" and find("minilm").name == "all-MiniLM-L6-v2"


def test_catalogue_prompt_strings_match_mteb_model_files():
    """The exact strings mteb's model files build (mteb a905523: e5_models.py, bge_models.py,
    nomic_models.py, e5_instruct.py, qwen3_models.py, gritlm_models.py, repllama_models.py)."""
    task = "Retrieve text based on user query."  # mteb AbsTaskRetrieval.abstask_prompt
    entries = catalogue()
    assert (entries["e5-base-v2"].query_prompt, entries["e5-base-v2"].doc_prompt) == ("query: ", "passage: ")
    assert entries["bge-large-en-v1.5"].query_prompt == "Represent this sentence for searching relevant passages: "
    assert entries["bge-large-en-v1.5"].doc_prompt == ""
    assert entries["nomic-embed-text-v1.5"].query_prompt == "search_query: " and entries["nomic-embed-text-v1.5"].layer_norm
    assert entries["e5-mistral-7b-instruct"].query_prompt == f"Instruct: {task}\nQuery: "
    assert entries["e5-mistral-7b-instruct"].doc_prompt == ""
    assert entries["Qwen3-Embedding-8B"].query_prompt == f"Instruct: {task}\nQuery:"
    assert entries["GritLM-7B"].query_prompt == f"<|user|>\n{task}\n<|embed|>\n"
    assert entries["GritLM-7B"].doc_prompt == "<|embed|>\n" and not entries["GritLM-7B"].include_prompt
    assert entries["promptriever-llama2-7b"].query_prompt == "query:  "  # two spaces, as mteb has it


def test_include_prompt_false_pools_over_the_text_only(tmp_path):
    """GritLM / INSTRUCTOR: prompt tokens attend but are left out of the mean pooling."""
    from harness.models.dense import SentenceTransformerEncoder

    path = bundled_minilm_path()
    enc = SentenceTransformerEncoder(path, name="m", revision="r", query_prompt="Represent the question: ", include_prompt=False)
    reference = SentenceTransformer(path, device="cpu")
    reference.set_pooling_include_prompt(include_prompt=False)
    texts = ["where do yams store food"]
    out = enc.encode(texts, kind="query", batch_size=1)
    np.testing.assert_allclose(out, reference.encode_query(texts, prompt="Represent the question: "), atol=1e-6)
    with_prompt = SentenceTransformer(path, device="cpu").encode(["Represent the question: " + texts[0]])
    assert np.abs(out - with_prompt).max() > 1e-3


def test_catalogue_models_offline_fail_in_one_sentence(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    for spec in ("bge-small-en-v1.5", "intfloat/e5-base-v2", "promptriever-llama2-7b"):
        with pytest.raises(IfirError, match="not in the local cache and the hub is offline"):
            load_model(spec)


def test_cli_names_the_pinned_revision_of_a_catalogue_hub_id_offline(monkeypatch, tmp_path):
    from harness.cli import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    result = CliRunner().invoke(main, ["run", "--model", "BAAI/bge-small-en-v1.5", "--tasks", "sample", "--output", str(tmp_path)])
    assert result.exit_code == 2 and "--revision " + find("bge-small-en-v1.5").revision in result.output


def test_models_command_lists_the_catalogue_within_80_columns():
    from harness.cli import main

    out = CliRunner().invoke(main, ["models"]).output
    lines = out.splitlines()
    assert any(line.startswith("  e5-mistral-7b-instruct ") and "Instruct" in line for line in lines)
    assert {line.split()[0] for line in lines} >= set(catalogue()) | {"minilm", "mpnet", "bm25"}
    assert max(map(len, lines)) <= 80


# Promptriever: a tiny random Llama with a LoRA, saved locally in the hub's formats.


@pytest.fixture(scope="module")
def tiny_llama_with_lora(tmp_path_factory):
    from peft import LoraConfig, get_peft_model
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaModel, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("promptriever")
    words = "query passage : ? . what is the capital of france paris a city in europe exclude rivers".split()
    vocab = {w: i for i, w in enumerate(["<unk>", "<s>", "</s>", *dict.fromkeys(words)])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace()])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=4, bos_token_id=1, eos_token_id=2,
    )
    base = LlamaModel(config)
    base.save_pretrained(root / "base")
    fast.save_pretrained(root / "base")
    lora = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    lora.save_pretrained(root / "lora")
    return root


def test_promptriever_query_format_follows_mteb():
    from harness.models.promptriever import PROMPTRIEVER_TEMPLATE, PromptrieverMeta

    meta = PromptrieverMeta(name="p", revision="r", kind="dense", query_template=PROMPTRIEVER_TEMPLATE)
    assert meta.format_query(Query("q", "capital of france", "Exclude rivers.")) == "capital of france? Exclude rivers."
    assert meta.format_query(Query("q", "what is paris.", "Exclude rivers.")) == "what is paris. Exclude rivers."
    assert meta.format_query(Query("q", "capital of france")) == "capital of france"
    meta.query_template = "{instruction} {query}"
    assert meta.format_query(Query("q", "capital of france", "Exclude rivers.")) == "Exclude rivers. capital of france"


def test_promptriever_loads_lora_with_peft_and_pools_the_last_token(tiny_llama_with_lora):
    """Batched, merged, right-padded encodings equal a one-text-at-a-time forward of the unmerged
    peft model over prompt + text + </s>, read at the last token (mteb's RepLLaMA recipe)."""
    from peft import PeftModel
    from transformers import AutoModel, AutoTokenizer

    from harness.models.promptriever import PromptrieverEncoder

    root = tiny_llama_with_lora
    enc = PromptrieverEncoder(
        str(root / "base"), str(root / "lora"), name="tiny", revision="r", device="cpu",
        query_prompt="query:  ", doc_prompt="passage:  ",
    )
    texts = ["what is the capital of france? exclude rivers", "paris", "a city in europe . paris is a city"]
    out = enc.encode(texts, kind="query", batch_size=3)

    tokenizer = AutoTokenizer.from_pretrained(root / "base")
    unmerged = PeftModel.from_pretrained(AutoModel.from_pretrained(root / "base"), root / "lora").eval()
    base_only = AutoModel.from_pretrained(root / "base").eval()
    for n, text in enumerate(texts):
        ids = tokenizer("query:  " + text)["input_ids"] + [tokenizer.eos_token_id]
        with torch.no_grad():
            last = unmerged(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
            plain = base_only(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
        np.testing.assert_allclose(out[n], torch.nn.functional.normalize(last, dim=-1).numpy(), atol=1e-5)
        assert np.abs(out[n] - torch.nn.functional.normalize(plain, dim=-1).numpy()).max() > 1e-3  # the LoRA counts
    assert enc.meta.query_prompt == "query:  " and enc.prompted(["paris"], "document") == ["passage:  paris"]
