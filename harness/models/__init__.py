"""Retrievers: the Protocols they satisfy, the registry that names them, and the dense baseline."""

from harness.models.protocols import Encoder, ModelMeta, Reranker, Retriever
from harness.models.registry import load_model, models

__all__ = ["Encoder", "ModelMeta", "Reranker", "Retriever", "load_model", "models"]
