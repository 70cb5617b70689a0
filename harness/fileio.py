"""Reading JSON Lines / TSV with errors that name file and line; atomic writes."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.errors import IfirError, where


BOM = "\ufeff"


def _not_utf8(path, line: int, raw: bytes, e: UnicodeDecodeError) -> IfirError:
    return IfirError(
        f"{where(path, line)}: not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
        f"save the file as UTF-8."
    )


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, text without its line ending) for each line of a UTF-8 file.

    A byte-order mark at the start is dropped; a byte that is not UTF-8 is an error naming file and line.
    """
    try:
        f = open(path, "rb")
    except OSError as e:
        raise IfirError(f"{path}: cannot be read ({e.strerror}).") from None
    with f:
        for n, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _not_utf8(path, n, raw, e) from None
            if n == 1:
                line = line.removeprefix(BOM)
            yield n, line.rstrip("\r\n")


def read_text(path: Path) -> str:
    """A whole UTF-8 file (a leading byte-order mark dropped); errors name file and line."""
    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise IfirError(f"{path}: cannot be read ({e.strerror}).") from None
    try:
        return raw.decode("utf-8").removeprefix(BOM)
    except UnicodeDecodeError as e:
        start = raw.rfind(b"\n", 0, e.start) + 1
        e.start -= start
        raise _not_utf8(path, raw.count(b"\n", 0, start) + 1, raw[start:], e) from None


def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line; a malformed line names file and line."""
    for n, line in read_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise IfirError(f"{where(path, n)}: not valid JSON ({e.msg}: column {e.colno}).") from None
        if not isinstance(obj, dict):
            raise IfirError(f"{where(path, n)}: expected a JSON object, got {type(obj).__name__}.")
        yield n, obj


def read_json(path: Path, *, hint: str = ""):
    """A whole JSON file; unreadable or malformed content is one clear error naming file and line."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise IfirError(f"{where(path, e.lineno)}: not valid JSON ({e.msg}: column {e.colno}){hint}.") from None


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


@contextmanager
def disk_space(folder: Path) -> Iterator[None]:
    """A full disk (or quota) while writing into `folder` becomes one sentence naming the folder."""
    try:
        yield
    except OSError as e:
        if e.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        raise IfirError(f"{folder}: no space left on its device ({e.strerror}); free some and run again "
                        f"(everything written before is intact).") from None


def check_folder_option(path: Path, option: str) -> None:
    """`path` can be a folder to write into: it is one, or it can be made (no file in the way, the
    nearest existing folder writable). Checked before any work, instead of a traceback after it."""
    path = Path(path).expanduser()
    for p in (path, *path.parents):
        if not p.exists():
            continue
        if not p.is_dir():
            where_ = "is a file" if p == path else f"is under {p}, which is a file"
            raise IfirError(f"{option} {path} {where_}, not a folder.")
        if not os.access(p, os.W_OK | os.X_OK):
            raise IfirError(f"{option} {path}: {p} is not writable.")
        return


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    path = Path(path)
    with disk_space(path.parent):
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
