"""Hugging Face hub access that fails at once, in one sentence, when the hub cannot be reached."""

from __future__ import annotations

import os
import socket

from harness.errors import IfirError

HUB_HOST = "huggingface.co"


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}


def hub_reachable(timeout: float = 3.0) -> bool:
    """A quick TCP probe, so an unreachable hub is a clear error rather than a minute-long hang."""
    if hub_offline():
        return False
    endpoint = os.environ.get("HF_ENDPOINT", f"https://{HUB_HOST}").split("://")[-1].split("/")[0]
    host, _, port = endpoint.partition(":")
    try:
        socket.create_connection((host, int(port or 443)), timeout=timeout).close()
        return True
    except OSError:
        return False


def snapshot(repo_id: str, revision: str | None = None, *, repo_type: str = "model", advice: str) -> str:
    """Local folder of a hub repo at a revision: from the local cache, else downloaded.

    `advice` completes the error sentence when neither works (what to run instead).
    """
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id, revision=revision, repo_type=repo_type, local_files_only=True)
    except Exception:
        pass
    if not hub_reachable():
        why = "the hub is offline (HF_HUB_OFFLINE=1)" if hub_offline() else "the Hugging Face hub cannot be reached"
        raise IfirError(f"{repo_type.capitalize()} '{repo_id}' is not in the local cache and {why}: {advice}")
    try:
        return snapshot_download(repo_id, revision=revision, repo_type=repo_type)
    except Exception as e:  # repository not found, gated, bad revision
        raise IfirError(f"Could not download {repo_type} '{repo_id}' (revision {revision or 'main'}) from the hub: {e}") from None


def revision_of_snapshot(path: str) -> str:
    """The commit sha of a hub snapshot folder (`.../snapshots/<sha>`)."""
    return os.path.basename(os.path.normpath(path))
