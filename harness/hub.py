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


def cli_name() -> str:
    """The command-line tool the installed huggingface_hub ships: `hf` (1.0 on), `huggingface-cli` before."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        scripts = {e.name for e in distribution("huggingface_hub").entry_points if e.group == "console_scripts"}
    except PackageNotFoundError:
        scripts = set()
    return "hf" if "hf" in scripts or "huggingface-cli" not in scripts else "huggingface-cli"


def download_command(repo_id: str, revision: str | None = None, *, repo_type: str = "model") -> str:
    """The shell command that downloads a hub repo at a revision (a model into a folder DIR)."""
    parts = [cli_name(), "download", repo_id]
    if repo_type != "model":
        parts += ["--repo-type", repo_type]
    if revision:
        parts += ["--revision", revision]
    if repo_type == "model":
        parts += ["--local-dir", "DIR"]
    return " ".join(parts)


def cached(repo_id: str, revision: str | None, repo_type: str = "model") -> str | None:
    """The local hub cache's folder of a repo at a revision, or None (never goes online)."""
    from huggingface_hub import snapshot_download

    try:
        return snapshot_download(repo_id, revision=revision, repo_type=repo_type, local_files_only=True)
    except Exception:
        return None


def _unavailable(repo_id: str, revision: str | None, repo_type: str, advice: str) -> IfirError:
    why = "the hub is offline (HF_HUB_OFFLINE=1)" if hub_offline() else "the Hugging Face hub cannot be reached"
    return IfirError(
        f"{repo_type.capitalize()} '{repo_id}' is not in the local cache and {why}: {advice} "
        f"Where the hub is reachable, `{download_command(repo_id, revision, repo_type=repo_type)}` downloads it."
    )


def ensure_available(repo_id: str, revision: str | None = None, *, repo_type: str = "model", advice: str) -> None:
    """Fail at once (before any work) when a hub repo is neither cached nor reachable."""
    if cached(repo_id, revision, repo_type) is None and not hub_reachable():
        raise _unavailable(repo_id, revision, repo_type, advice)


def snapshot(repo_id: str, revision: str | None = None, *, repo_type: str = "model", advice: str) -> str:
    """Local folder of a hub repo at a revision: from the local cache, else downloaded.

    `advice` completes the error sentence when neither works (what to run instead).
    """
    from huggingface_hub import snapshot_download

    folder = cached(repo_id, revision, repo_type)
    if folder is not None:
        return folder
    if not hub_reachable():
        raise _unavailable(repo_id, revision, repo_type, advice)
    try:
        return snapshot_download(repo_id, revision=revision, repo_type=repo_type)
    except Exception as e:  # repository not found, gated, bad revision
        raise IfirError(f"Could not download {repo_type} '{repo_id}' (revision {revision or 'main'}) from the hub: {e}") from None


def revision_of_snapshot(path: str) -> str:
    """The commit sha of a hub snapshot folder (`.../snapshots/<sha>`)."""
    return os.path.basename(os.path.normpath(path))
