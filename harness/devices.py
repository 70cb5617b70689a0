"""`--device`, read in one place: which devices a string names, whether this machine has them, and
the one device a single-device model runs on. No model is loaded here."""

from __future__ import annotations

from harness.errors import IfirError


def device_names(device: str | None) -> list[str]:
    """'cuda:0, cuda:1' -> ['cuda:0', 'cuda:1']; None or '' -> []."""
    return [d.strip() for d in (device or "").split(",") if d.strip()]


def encode_devices(device: str | None) -> str | list[str] | None:
    """What sentence-transformers takes: several names -> a list (multi-process encoding), one -> itself."""
    names = device_names(device)
    return names if len(names) > 1 else (names[0] if names else None)


def default_device() -> str:
    """What a model takes with no --device: CUDA when present (sentence-transformers' rule)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def one_device(device: str | None, who: str) -> str:
    """The device of a model that runs on one (`who` names it in the error): the one named, else the default."""
    names = device_names(device)
    if len(names) > 1:
        raise IfirError(f"{who} runs on one device; got '{device}'.")
    return names[0] if names else default_device()


def check_device(device: str | None) -> None:
    """`--device` names devices this machine has: one line here instead of torch's traceback later."""
    if not device:
        return
    import torch

    for name in device_names(device):
        kind, _, index = name.partition(":")
        if kind == "cpu" and not index:
            continue
        if kind == "cuda":
            if not torch.cuda.is_available():
                why = "this torch is built without CUDA" if torch.version.cuda is None else "no CUDA device is visible"
                raise IfirError(f"--device {device}: {why} (torch {torch.__version__}); use --device cpu or leave it out.")
            count = torch.cuda.device_count()
            if index and not (index.isdigit() and int(index) < count):
                raise IfirError(f"--device {device}: no device {name} here ({count} CUDA device(s): cuda:0 to cuda:{count - 1}).")
        elif kind == "mps" and not index:
            if not torch.backends.mps.is_available():
                raise IfirError(f"--device {device}: Apple MPS is not available here; use --device cpu or leave it out.")
        else:
            raise IfirError(f"--device {device}: unknown device '{name}' (cpu, cuda, cuda:N, mps, or a comma-separated list).")
