"""Promptriever (Weller et al. 2024): a LoRA on a causal LM, loaded with peft and merged, encoded as
mteb's RepLLaMA / Promptriever code does: prompt prefixed, </s> appended, right padding, the last
token's hidden state, L2-normalised; the query is "{query}? {instruction}" (mteb's
`combine_query_and_instruction`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from harness.devices import one_device
from harness.errors import IfirError
from harness.models.catalogue import CatalogueEntry
from harness.models.locate import locate_model
from harness.models.protocols import ModelMeta, join_query
from harness.types import Query

QUESTION_MARK = "{?}"
PROMPTRIEVER_TEMPLATE = "{query}{?} {instruction}"
"""`{?}` is "?" unless the query already ends with ?, . or ! (and nothing without an instruction)."""
MAX_LENGTH = 512  # mteb: "set the max_length for the evals as they did"


class PromptrieverMeta(ModelMeta):
    """ModelMeta whose query template may hold `{?}`, Promptriever's question mark."""

    def format_query(self, query: Query) -> str:
        if QUESTION_MARK not in self.query_template:
            return super().format_query(query)
        text = query.text.strip()
        mark = "?" if query.instruction and text and text[-1] not in "?.!" else ""
        return join_query(self.query_template.replace(QUESTION_MARK, mark), query.text, query.instruction)


class PromptrieverEncoder:
    """An `Encoder`: base model + peft adapter (merged), last-token pooling."""

    def __init__(
        self,
        base_path: str,
        adapter_path: str,
        *,
        name: str,
        revision: str,
        device: str | None = None,
        dtype: str = "",
        query_prompt: str = "",
        doc_prompt: str = "",
        spec: str = "",
        max_length: int = MAX_LENGTH,
    ):
        import torch
        from transformers import AutoModel, AutoTokenizer

        try:
            from peft import PeftModel
        except ImportError:
            raise IfirError("Promptriever needs peft: pip install 'ifir-bench[peft]'.") from None
        device = one_device(device, "Promptriever")
        base = AutoModel.from_pretrained(base_path, dtype=getattr(torch, dtype) if dtype else None)
        self.model = PeftModel.from_pretrained(base, adapter_path).merge_and_unload().to(device).eval()
        self.tokenizer = AutoTokenizer.from_pretrained(base_path)
        self.tokenizer.pad_token_id = self.tokenizer.eos_token_id
        self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "right"
        self.max_length = max_length
        self.device = torch.device(device)
        self.meta = PromptrieverMeta(
            name=name,
            revision=revision,
            kind="dense",
            query_template=PROMPTRIEVER_TEMPLATE,
            spec=spec or name,
            extra={"similarity": "cosine", "dim": self.model.config.hidden_size, "max_seq_length": max_length}
            | ({"precision": dtype} if dtype else {}),
        )
        self.meta.query_prompt, self.meta.doc_prompt = query_prompt, doc_prompt

    @classmethod
    def from_entry(
        cls, entry: CatalogueEntry, *, device=None, revision=None, spec="", query_prompt="", doc_prompt=""
    ) -> PromptrieverEncoder:
        """Base model and adapter from the hub (or its cache) at the catalogue's pinned revisions."""
        base, _, base_rev = locate_model(
            f"{entry.base_model}@{entry.base_revision}", kind="base model", required=("config.json",), option="--model"
        )
        adapter, _, adapter_rev = locate_model(
            f"{entry.hub_id}@{revision or entry.revision}", kind="peft adapter", required=("adapter_config.json",), option="--model"
        )
        return cls(
            base,
            adapter,
            name=entry.hub_id,
            revision=f"{base_rev}-{adapter_rev}",  # mteb's "base-peft" revision
            device=device,
            dtype=entry.dtype,
            query_prompt=query_prompt,
            doc_prompt=doc_prompt,
            spec=spec or entry.name,
        )

    def prompted(self, texts: Sequence[str], kind: str) -> list[str]:
        """Texts with the prompt prefixed, as mteb strips them (queries before and after)."""
        if kind == "query":
            return [f"{self.meta.query_prompt}{t.strip()}".strip() for t in texts]
        return [f"{self.meta.doc_prompt}{t}".strip() for t in texts]

    def batch(self, texts: Sequence[str]):
        """Token ids truncated to max_length - 1, </s> appended, right-padded to a multiple of 8."""
        enc = self.tokenizer(
            list(texts), max_length=self.max_length - 1, truncation=True, padding=False,
            return_token_type_ids=False, return_attention_mask=False,
        )
        enc["input_ids"] = [ids + [self.tokenizer.eos_token_id] for ids in enc["input_ids"]]
        return self.tokenizer.pad(enc, padding=True, pad_to_multiple_of=8, return_attention_mask=True, return_tensors="pt")

    def encode(
        self, texts: Sequence[str], *, kind: Literal["query", "document"], batch_size: int = 16, show_progress: bool = False
    ) -> np.ndarray:
        import torch

        texts = self.prompted(texts, kind)
        out = []
        for start in range(0, len(texts), batch_size):
            batch = {k: v.to(self.device) for k, v in self.batch(texts[start : start + batch_size]).items()}
            with torch.no_grad(), torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
                hidden = self.model(**batch).last_hidden_state
            last = batch["attention_mask"].sum(dim=1) - 1
            reps = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
            out.append(torch.nn.functional.normalize(reps.float(), p=2, dim=-1).cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, self.model.config.hidden_size), dtype=np.float32)
