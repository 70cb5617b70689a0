"""`--model llm-reranker:PATH_OR_HUB_ID[@revision][,format=NAME][,max_length=N][,dtype=NAME]`: pointwise LLM
rerankers (FollowIR-7B, Mistral-Instruct, monoT5, Qwen3-Reranker) in each model's published prompt.

A (query, instruction, document) is scored by the logit of the "relevant" token against the "not relevant"
token at the next position: `logit[yes] - logit[no]`, which is `log p(yes) - log p(no)` under a softmax over
the two tokens. mteb and the model cards return `p(yes) = sigmoid(score)` instead: the same ranking, except
that in float32 p(yes) saturates at 1.0 (ties) where the logit difference does not.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.devices import one_device
from harness.errors import IfirError
from harness.models.locate import locate_model
from harness.models.protocols import ModelMeta, join_query
from harness.progress import progress
from harness.types import Document, Query, Run

PROGRESS_CHUNK = 256  # prompts per progress step; scored in batches of `batch_size` within it


@dataclass(frozen=True)
class PromptFormat:
    """A published pointwise prompt: its template (fields `{query}`, `{instruction}`, `{document}`), the
    vocabulary entries read at the next position, the window in tokens, and where it was taken from."""

    name: str
    template: str
    yes: str
    no: str
    seq2seq: bool
    max_length: int
    source: str
    query_template: str = "{query} {instruction}"  # how `{query}` is filled from the query text and instruction
    default_instruction: str = ""  # fills `{instruction}` when a query has none


FOLLOWIR_SOURCE = (
    "https://huggingface.co/jhu-clsp/FollowIR-7B (model card); mteb "
    "mteb/models/model_implementations/rerankers_monot5_based.py FollowIRReranker (a905523); "
    "github.com/orionw/FollowIR models/rerankers/reranker_models.py FollowIRReranker (61ad33e)"
)

FORMATS: dict[str, PromptFormat] = {
    f.name: f
    for f in (
        # The card's string exactly, "<s>" included: its tokenizer also adds a BOS, so the ids start <s><s>.
        PromptFormat(
            name="followir",
            template=(
                "<s> [INST] You are an expert Google searcher, whose job is to determine if the following document "
                "is relevant to the query (true/false). Answer using only one word, one of those two choices.\n\n"
                "Query: {query}\nDocument: {document}\n"
                'Relevant (only output one word, either "true" or "false"): [/INST] '
            ),
            yes="true",
            no="false",
            seq2seq=False,
            max_length=2048,  # mteb and FollowIR's code: min(2048, tokenizer.model_max_length), unbounded for Mistral
            source=FOLLOWIR_SOURCE,
        ),
        PromptFormat(
            name="mistral-instruct",
            template=(
                "<s>[INST] You are an expert Google searcher, whose job is to determine if the following document "
                "is relevant to the query (true/false).\nQuery: {query}\nDocument: {document}\n"
                'Relevant (either "true" or "false"): [/INST]'
            ),
            yes="true",
            no="false",
            seq2seq=False,
            max_length=2048,
            source=(
                "mteb mteb/models/model_implementations/rerankers_monot5_based.py MistralReranker (a905523); "
                "github.com/orionw/FollowIR models/rerankers/reranker_models.py MistralReranker (61ad33e)"
            ),
        ),
        PromptFormat(
            name="monot5",
            template="Query: {query} Document: {document} Relevant:",
            yes="▁true",
            no="▁false",
            seq2seq=True,
            max_length=512,  # pygaggle's T5 tokenizer window, and T5's training length
            source=(
                "pygaggle pygaggle/rerank/base.py and pygaggle/model/tokenize.py (castorini, Nogueira et al. 2020); "
                "mteb mteb/models/model_implementations/rerankers_monot5_based.py MonoT5Reranker (a905523)"
            ),
        ),
        PromptFormat(
            name="qwen3-reranker",
            template=(
                "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
                'Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n<|im_start|>user\n'
                "<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {document}"
                "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
            ),
            yes="yes",
            no="no",
            seq2seq=False,
            source=(
                "https://huggingface.co/Qwen/Qwen3-Reranker-0.6B (model card); github.com/QwenLM/Qwen3-Embedding "
                "examples/qwen3_reranker_transformers.py (f4ad0c4); mteb "
                "mteb/models/model_implementations/qwen3_reranker.py (a905523)"
            ),
            max_length=8192,  # the card's and mteb's max_length
            query_template="{query}",
            default_instruction="Given a web search query, retrieve relevant passages that answer the query",
        ),
    )
}

# Hub ids with their prompt format and the revision mteb pins (None: no pin known; the snapshot's commit is recorded).
KNOWN: dict[str, tuple[str, str | None]] = {
    "jhu-clsp/FollowIR-7B": ("followir", "4d25d437e38b510c01852070c0731e8f6e1875d1"),
    "mistralai/Mistral-7B-Instruct-v0.2": ("mistral-instruct", "3ad372fc79158a2148299e3318516c786aeded6c"),
    "castorini/monot5-base-msmarco": ("monot5", None),
    "castorini/monot5-3b-msmarco": ("monot5", None),
    "castorini/monot5-small-msmarco-10k": ("monot5", "77f8e3f7b1eb1afe353aa21a7c3a2fc8feca702e"),
    "castorini/monot5-base-msmarco-10k": ("monot5", "f15657ab3d2a5dd0b9a30c8c0b6a0a73c9cb5884"),
    "castorini/monot5-large-msmarco-10k": ("monot5", "48cfad1d8dd587670393f27ee8ec41fde63e3d98"),
    "castorini/monot5-3b-msmarco-10k": ("monot5", "bc0c419a438c81f592f878ce32430a1823f5db6c"),
    "Qwen/Qwen3-Reranker-0.6B": ("qwen3-reranker", "6e9e69830b95c52b5fd889b7690dda3329508de3"),
    "Qwen/Qwen3-Reranker-4B": ("qwen3-reranker", "f16fc5d5d2b9b1d0db8280929242745d79794ef5"),
    "Qwen/Qwen3-Reranker-8B": ("qwen3-reranker", "5fa94080caafeaa45a15d11f969d7978e087a3db"),
}
FORMAT_OF_MODEL_TYPE = {"t5": "monot5", "qwen3": "qwen3-reranker"}
DTYPES = ("bfloat16", "float16", "float32")
USAGE = "use llm-reranker:PATH_OR_HUB_ID[,format=NAME][,max_length=N][,dtype=NAME]"


def parse_spec(arg: str) -> tuple[str, dict[str, str]]:
    """`ID,key=value,...` -> (ID, options); only `format`, `max_length` and `dtype` are known."""
    model, *items = [s.strip() for s in arg.split(",")]
    options = {}
    for item in filter(None, items):
        key, sep, value = item.partition("=")
        if not sep or key not in ("format", "max_length", "dtype") or not value:
            raise IfirError(f"Bad llm-reranker option '{item}': {USAGE}.")
        options[key] = value
    if not model:
        raise IfirError(f"llm-reranker needs a model: {USAGE}, e.g. --model 'bm25>>llm-reranker:jhu-clsp/FollowIR-7B'.")
    return model, options


def format_for(model: str, folder: str, name: str | None) -> PromptFormat:
    """The prompt format of a known hub id, of a local folder named like one, or of a T5 / Qwen3 config."""
    known = {k.lower(): f for k, (f, _) in KNOWN.items()}
    by_tail = {k.split("/")[1].lower(): f for k, (f, _) in KNOWN.items()}
    if name is None:
        name = known.get(model.split("@")[0].lower()) or by_tail.get(Path(folder).name.lower())
    if name is None:
        try:
            model_type = json.loads((Path(folder) / "config.json").read_text()).get("model_type", "")
        except (OSError, ValueError):
            model_type = ""
        name = FORMAT_OF_MODEL_TYPE.get(model_type)
    if name is None:
        raise IfirError(f"No known prompt format for '{model}': add ,format=NAME (one of {', '.join(FORMATS)}).")
    if name not in FORMATS:
        raise IfirError(f"Unknown llm-reranker format '{name}': one of {', '.join(FORMATS)}.")
    return FORMATS[name]


class LLMReranker:
    """A `Reranker` scoring each distinct prompt once, in length-sorted batches; long documents are cut
    at the end (in tokens) so the prompt around them stays whole."""

    @staticmethod
    def hub_spec(arg: str) -> str:
        """The folder or `org/name@revision` that `arg` loads: its options dropped, a known hub id pinned."""
        model_id = arg.partition(",")[0].strip()
        pin = KNOWN.get(model_id, (None, None))[1]
        return f"{model_id}@{pin}" if pin and "@" not in model_id and not Path(model_id).expanduser().exists() else model_id

    def __init__(self, arg: str = "", *, batch_size: int = 32, device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

        model_id, options = parse_spec(arg)
        self.device = one_device(device, "llm-reranker")
        dtype_name = options.get("dtype") or ("float32" if self.device == "cpu" else "bfloat16")
        if dtype_name not in DTYPES:
            raise IfirError(f"Bad llm-reranker dtype '{dtype_name}': one of {', '.join(DTYPES)}.")
        max_length = options.get("max_length", "")
        if max_length and (not max_length.isdigit() or int(max_length) < 1):
            raise IfirError(f"Bad llm-reranker max_length '{max_length}': a positive whole number of tokens.")
        folder, name, revision = locate_model(self.hub_spec(arg), kind="LLM reranker", required=("config.json",), option="llm-reranker:FOLDER")
        self.format = format_for(model_id, folder, options.get("format"))
        self.max_length = int(max_length) if max_length else self.format.max_length
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder)
            auto = AutoModelForSeq2SeqLM if self.format.seq2seq else AutoModelForCausalLM
            self.model = auto.from_pretrained(folder, dtype=getattr(torch, dtype_name)).to(self.device).eval()
        except (OSError, ValueError) as e:
            raise IfirError(f"Could not load an LLM reranker from '{model_id}': {e}") from None
        if not self.tokenizer.is_fast:
            raise IfirError(f"'{model_id}' has no fast tokenizer (tokenizer.json); the reranker needs its offsets to cut documents.")
        vocab = self.tokenizer.get_vocab()
        for token in (self.format.yes, self.format.no):
            if token not in vocab:
                raise IfirError(f"The tokenizer of '{model_id}' has no token '{token}', which format '{self.format.name}' reads.")
        self.yes_id, self.no_id = vocab[self.format.yes], vocab[self.format.no]
        # The two logits are recomputed in float32 from what the model feeds its output layer: bf16 logits
        # are rounded to 1/16 near 10, which would tie many documents.
        head = self.model.get_output_embeddings()
        self._no_yes_rows = head.weight[[self.no_id, self.yes_id]].float()
        self._no_yes_bias = None if head.bias is None else head.bias[[self.no_id, self.yes_id]].float()
        self._head_input: list = []
        head.register_forward_hook(lambda module, args, output: self._head_input.append(args[0][:, -1, :]))
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        self.batch_size = batch_size
        self.timings = {"rerank_s": 0.0, "pairs_scored": 0, "documents_truncated": 0}
        self.meta = ModelMeta(
            name=name,
            revision=revision,
            kind="reranker",
            query_template=self.format.query_template,
            query_prompt=self.format.template,  # the exact prompt applied, so a result's identity covers it
            spec=f"llm-reranker:{arg}",
            extra={
                "path": folder,
                "prompt_format": self.format.name,
                "prompt_template": self.format.template,
                "default_instruction": self.format.default_instruction,
                "tokens": {"yes": self.format.yes, "no": self.format.no},
                "score": "logit(yes) - logit(no) at the next token",
                "max_seq_length": self.max_length,
                "precision": dtype_name,
                "prompt_source": self.format.source,
            },
        )

    def prompt(self, query: Query, document: Document) -> str:
        """The exact prompt string for a (query, document) pair."""
        return "".join(self._parts(query, document))

    def _parts(self, query: Query, document: Document) -> tuple[str, str, str]:
        """(text before the document, document text, text after it)."""
        fields = {
            "query": join_query(self.meta.query_template, query.text, query.instruction),
            "instruction": query.instruction or self.format.default_instruction,
        }
        head, tail = self.format.template.split("{document}")
        return head.format(**fields), self.meta.format_doc(document), tail.format(**fields)

    def token_ids(self, pairs: Sequence[tuple[Query, Document]]) -> list[list[int]]:
        """The token ids scored for each (query, document) pair (named so that nothing takes this
        reranker for an `Encoder`, whose protocol is an `encode` method)."""
        return self._token_ids([self._parts(q, d) for q, d in pairs])[0]

    def _token_ids(self, parts: Sequence[tuple[str, str, str]]) -> tuple[list[list[int]], int]:
        """Token ids of each prompt (tokenized whole, as the model cards do) and how many were cut to fit
        `max_length`: a prompt too long loses the last tokens of its document, nothing else."""
        encoded = self.tokenizer(["".join(p) for p in parts], return_offsets_mapping=True)
        out, truncated = [], 0
        for (head, doc, _), ids, offsets in zip(parts, encoded["input_ids"], encoded["offset_mapping"]):
            excess = len(ids) - self.max_length
            if excess > 0:
                start, end = len(head), len(head) + len(doc)
                inside = [i for i, (s, e) in enumerate(offsets) if e > s and s >= start and e <= end]
                if len(inside) < excess:
                    raise IfirError(
                        f"The {self.format.name} prompt is {len(ids) - len(inside)} tokens without its document, more than "
                        f"the window of {self.max_length}; raise it with ,max_length=N."
                    )
                drop = set(inside[-excess:])
                ids = [t for i, t in enumerate(ids) if i not in drop]
                truncated += 1
            out.append(ids)
        return out, truncated

    def _score_batch(self, batch: list[list[int]]) -> list[float]:
        """logit(yes) - logit(no) at the next token, in float32 from the output layer's input. Causal models
        are padded on the left with positions counted from each prompt's first token, so padding changes no score."""
        import torch

        self._head_input.clear()
        width = max(len(ids) for ids in batch)
        pad = [[self.pad_id] * (width - len(ids)) for ids in batch]
        mask = [[0] * (width - len(ids)) + [1] * len(ids) for ids in batch]
        if self.format.seq2seq:  # encoder-decoder: right padding, one decoder step from the start token
            input_ids = torch.tensor([ids + p for ids, p in zip(batch, pad)], device=self.device)
            attention = torch.tensor([m[::-1] for m in mask], device=self.device)
            start = torch.full((len(batch), 1), self.model.config.decoder_start_token_id, device=self.device)
            self.model(input_ids=input_ids, attention_mask=attention, decoder_input_ids=start)
        else:
            input_ids = torch.tensor([p + ids for ids, p in zip(batch, pad)], device=self.device)
            attention = torch.tensor(mask, device=self.device)
            positions = (attention.cumsum(-1) - 1).clamp(min=0)
            self.model(input_ids=input_ids, attention_mask=attention, position_ids=positions, logits_to_keep=1)
        pair = self._head_input.pop().float() @ self._no_yes_rows.T
        if self._no_yes_bias is not None:
            pair = pair + self._no_yes_bias
        return (pair[:, 1] - pair[:, 0]).tolist()

    def _score_fitting(self, batch: list[list[int]]) -> list[float]:
        """`_score_batch`, split in halves while the device runs out of memory (long prompts, big models)."""
        import torch

        try:
            return self._score_batch(batch)
        except torch.OutOfMemoryError:
            if len(batch) == 1:
                raise IfirError(
                    f"One {len(batch[0])}-token prompt does not fit in {self.device}'s memory; lower the window "
                    f"with ,max_length=N or use a smaller dtype."
                ) from None
        if self.device.startswith("cuda"):
            torch.cuda.empty_cache()
        half = len(batch) // 2
        return self._score_fitting(batch[:half]) + self._score_fitting(batch[half:])

    def score(self, pairs: Sequence[tuple[Query, Document]], *, show_progress: bool = True) -> list[float]:
        """Scores of (query, document) pairs; each distinct prompt is scored once."""
        import torch

        parts = [self._parts(q, d) for q, d in pairs]
        unique = sorted(dict.fromkeys(parts), key=lambda p: -sum(map(len, p)))  # chunks of similar lengths
        score_of: dict[tuple[str, str, str], float] = {}
        with progress(show_progress) as bar, torch.inference_mode():
            job = bar.add_task(f"{self.format.name}: scoring prompts", total=len(unique))
            for start in range(0, len(unique), PROGRESS_CHUNK):
                chunk = unique[start : start + PROGRESS_CHUNK]
                ids, truncated = self._token_ids(chunk)
                self.timings["documents_truncated"] += truncated
                order = sorted(range(len(chunk)), key=lambda i: -len(ids[i]))  # longest first: less padding, OOM early
                for b in range(0, len(order), self.batch_size):
                    idx = order[b : b + self.batch_size]
                    score_of.update(zip((chunk[i] for i in idx), self._score_fitting([ids[i] for i in idx])))
                bar.advance(job, len(chunk))
        self.timings["pairs_scored"] += len(unique)
        return [score_of[p] for p in parts]

    def rerank(
        self, corpus: Mapping[str, Document], queries: Mapping[str, Query], candidates: Mapping[str, Sequence[str]]
    ) -> Run:
        """Scores of each query's candidates. A plain-string query is taken as text already joined with its
        instruction (the protocol's convention), so the prompt's own instruction field gets the default."""
        t0 = time.perf_counter()
        queries = {q: Query(q, v) if isinstance(v, str) else v for q, v in queries.items()}
        missing = next(((q, d) for q, docs in candidates.items() for d in docs if d not in corpus), None)
        if missing:
            raise IfirError(f"Candidate '{missing[1]}' of query '{missing[0]}' is not in the corpus.")
        keys = [(q, d) for q, docs in candidates.items() for d in docs]
        scores = self.score([(queries[q], corpus[d]) for q, d in keys])
        run: Run = {q: {} for q in candidates}
        for (q, d), s in zip(keys, scores):
            run[q][d] = s
        self.timings["rerank_s"] += time.perf_counter() - t0
        return run
