"""Reading JSON Lines / TSV with errors that name file and line; atomic writes."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from harness.errors import IfirError, where


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; a malformed line names file and line."""
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise IfirError(f"{where(path, n)}: not valid JSON ({e.msg} at column {e.colno}).") from None
            if not isinstance(obj, dict):
                raise IfirError(f"{where(path, n)}: expected a JSON object, got {type(obj).__name__}.")
            yield n, obj


def read_json(path: Path, *, hint: str = ""):
    """A whole JSON file; unreadable or malformed content is one clear error naming file and line."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise IfirError(f"{where(path, e.lineno)}: not valid JSON ({e.msg}){hint}.") from None
    except OSError as e:
        raise IfirError(f"{path}: cannot be read ({e.strerror}).") from None


def require(obj: dict, key: str, path: Path, line: int, kind=str):
    """obj[key], checked for presence and type, with a file:line error otherwise."""
    if key not in obj:
        raise IfirError(f"{where(path, line)}: missing field '{key}'.")
    value = obj[key]
    if kind is str and isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)  # ids written as numbers
    if not isinstance(value, kind):
        raise IfirError(f"{where(path, line)}: field '{key}' should be {kind.__name__}, got {type(value).__name__}.")
    return value


_UMASK = os.umask(0)
os.umask(_UMASK)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; give the file the usual mode
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def write_jsonl(path: Path, rows) -> None:
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
