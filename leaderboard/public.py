"""What may be published: result records with secrets removed and local paths made relative.

A result file records the exact command and the paths a run read. A site is public, so before
anything is shown or copied: a value given to an option whose name says key, token, secret or
password becomes `REDACTED` (also `NAME=value` environment prefixes), credentials inside a URL
(`http://user:key@host`) become `REDACTED@host`, the program path that starts a command is cut to its
name, and any other absolute path becomes relative to the results folder when it shares a folder
with it (`../shared/data/scifact`), else only its last two parts are kept (`.../data/scifact`).
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import PurePosixPath, PureWindowsPath

REDACTED = "REDACTED"
# Words that mark an option or field as secret; matched against whole words of its name, so
# `--api-key`, `--hf-token`, `client_secret` are secret and `--max-tokens`, `--tokenizer` are not.
SECRET_WORDS = frozenset({"key", "apikey", "token", "secret", "password", "passwd", "pwd", "credential", "credentials", "auth"})
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s?#]+)@")
_WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:[\\/]")


def is_secret_name(name: str) -> bool:
    """Whether an option or field name (`--api-key`, `HF_TOKEN`, `client_secret`) says it holds a secret."""
    words = re.split(r"[^a-z0-9]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower())
    return any(w in SECRET_WORDS for w in words if w)


def scrub_url(text: str) -> str:
    """Credentials inside URLs replaced: `http://user:key@host` -> `http://REDACTED@host`."""
    return _URL_USERINFO.sub(lambda m: m.group("scheme") + REDACTED + "@", text)


def is_absolute(text: str) -> bool:
    return text.startswith("/") or bool(_WINDOWS_ABSOLUTE.match(text))


def public_path(path: str, root: str) -> str:
    """An absolute path as it may be shown: relative to the results folder `root` when the two share
    a folder below the file-system root, else its last two parts. Other text is returned unchanged."""
    if not is_absolute(path):
        return path
    pure = PureWindowsPath(path) if _WINDOWS_ABSOLUTE.match(path) else PurePosixPath(path)
    if isinstance(pure, PurePosixPath) and is_absolute(root):
        common = os.path.commonpath([os.path.normpath(path), os.path.normpath(root)])
        if common not in ("/", ""):
            rel = os.path.relpath(os.path.normpath(path), os.path.normpath(root))
            return "." if rel == "." else PurePosixPath(rel).as_posix()
    parts = [p for p in pure.parts[1:] if p]
    return ".../" + "/".join(parts[-2:]) if parts else "..."


def _scrub_token(token: str, root: str) -> str:
    if "=" in token and not token.startswith("-") and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", token, re.S):
        name, value = token.split("=", 1)  # an environment prefix: HF_TOKEN=...
        return f"{name}={REDACTED}" if is_secret_name(name) else f"{name}={_scrub_value(value, root)}"
    if token.startswith("-") and "=" in token:
        name, value = token.split("=", 1)
        return f"{name}={REDACTED}" if is_secret_name(name) else f"{name}={_scrub_value(value, root)}"
    return _scrub_value(token, root)


def _scrub_value(value: str, root: str) -> str:
    value = scrub_url(value)
    if is_absolute(value):
        return public_path(value, root)
    if "," in value and any(is_absolute(v) for v in value.split(",")):  # --tasks sample,/data/scifact
        return ",".join(public_path(v, root) for v in value.split(","))
    return value


def scrub_command(command: str, root: str) -> str:
    """A recorded command line as it may be published (see the module docstring)."""
    prefix = ""
    if command.startswith("python: "):  # how results.provenance records a command run from Python
        prefix, command = "python: ", command[len("python: "):]
    try:
        tokens, join = shlex.split(command), shlex.join
    except ValueError:  # unbalanced quotes: scrub word by word
        tokens, join = command.split(), " ".join
    out, secret_next = [], False
    for n, token in enumerate(tokens):
        if secret_next:
            out.append(REDACTED)
            secret_next = False
            continue
        if token.startswith("-") and "=" not in token and is_secret_name(token):
            secret_next = True
            out.append(token)
            continue
        if n == 0 and is_absolute(token):  # the program: its name says enough
            out.append(PurePosixPath(token).name or token)
            continue
        out.append(_scrub_token(token, root))
    return prefix + join(out)


def scrub_record(obj, root: str, *, key: str = ""):
    """A copy of a JSON value with every secret, credential and absolute path made publishable.
    Fields named like a secret are replaced whole; `command` fields are scrubbed token by token."""
    if isinstance(obj, dict):
        return {k: (REDACTED if is_secret_name(str(k)) and isinstance(v, (str, int, float)) and not isinstance(v, bool) and v != ""
                    else scrub_record(v, root, key=str(k))) for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub_record(v, root, key=key) for v in obj]
    if isinstance(obj, str):
        if key == "command":
            return scrub_command(obj, root)
        return _scrub_value(obj, root)
    return obj
