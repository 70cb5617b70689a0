"""`--device` is read in one place (harness.devices): every model kind gets the same reading."""

from __future__ import annotations

import pytest
import torch

from harness.devices import default_device, device_names, encode_devices, one_device
from harness.errors import IfirError


def test_one_reading_of_a_device_string():
    assert device_names(" cuda:0, cuda:1 ,") == ["cuda:0", "cuda:1"] and device_names(None) == device_names("") == []
    assert encode_devices("cuda:0,cuda:1") == ["cuda:0", "cuda:1"]  # sentence-transformers' multi-process form
    assert encode_devices("cpu") == "cpu" and encode_devices(None) is None
    assert default_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    assert one_device(None, "x") == default_device() and one_device(" cpu ", "x") == "cpu"


@pytest.mark.parametrize("who", ["Promptriever", "llm-reranker", "cross-encoder", "The local LLM"])
def test_a_single_device_model_refuses_a_list_by_name(who):
    with pytest.raises(IfirError, match=rf"^{who} runs on one device; got 'cuda:0,cuda:1'\.$"):
        one_device("cuda:0,cuda:1", who)


def test_the_cross_encoder_reranker_refuses_a_device_list_in_one_line(shared_data):
    """Before, the list reached sentence-transformers' CrossEncoder and torch failed with a traceback."""
    from cross_encoder_training import tiny_cross_encoder

    from harness.models import load_model

    path = tiny_cross_encoder(shared_data / "scifact")
    with pytest.raises(IfirError, match="cross-encoder runs on one device; got 'cpu,cpu'"):
        load_model(f"cross-encoder:{path}", device="cpu,cpu")
