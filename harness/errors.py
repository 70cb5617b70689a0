"""One exception type whose message is shown to the user as is, in one sentence."""


class IfirError(Exception):
    """A user-facing error: bad input, missing data or weights, unknown names."""


def where(path, line: int | None = None) -> str:
    """Format a file position as `path:line` for error messages."""
    return f"{path}:{line}" if line is not None else str(path)
