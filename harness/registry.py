"""One registry for every named thing (model kinds, subcommands, hub layouts, family scorers), after
lm-evaluation-harness's `Registry[T]`: a name is registered once, a `"module:attr"` target is imported
on its first `get`, an entry-point group adds plugins (read once, never replacing a built-in), and an
unknown name is an IfirError that suggests the nearest ones."""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
from collections.abc import Iterator
from typing import Generic, TypeVar

from harness.errors import IfirError

T = TypeVar("T")


def import_target(target: str):
    """The object a `"module:attr"` target (attr may be dotted) names, imported now."""
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        raise IfirError(f"Cannot import '{module_name}' for '{target}': {e}.") from None
    try:
        obj = module
        for part in attr.split("."):
            obj = getattr(obj, part)
    except AttributeError:
        raise IfirError(f"'{module_name}' has no attribute '{attr}'.") from None
    return obj


def _as_target(obj) -> str:
    """How a registration reads in messages and compares with an entry point's value: `module:qualname`."""
    if isinstance(obj, str):
        return obj
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    return f"{module}:{qualname}" if module and qualname else repr(obj)


class Registry(Generic[T]):
    """Names -> objects of one kind; a str registration is a lazy `"module:attr"` target.

    `names()` is sorted; iterating gives the names in registration order (built-ins, then plugins).
    """

    def __init__(self, kind: str, group: str | None = None):
        self.kind = kind
        self.group = group
        self._targets: dict[str, T | str] = {}
        self.clashes: dict[str, str] = {}
        self._entry_points_read = group is None

    def register(self, name: str, target: T | str) -> None:
        """Add `name`; a name already taken is refused (a programming error, hence ValueError)."""
        if name in self._targets:
            raise ValueError(f"{self.kind} '{name}' is already registered as {_as_target(self._targets[name])}; "
                             f"not replacing it with {_as_target(target)}.")
        self._targets[name] = target

    def _entry_points(self):
        return importlib.metadata.entry_points(group=self.group)

    def _read_entry_points(self) -> None:
        """Add the group's entry points, once. One that repeats a registration's own target is that
        registration (an install declares the built-ins too); any other clash is refused and kept in
        `clashes` (the name -> the message naming both): asking for that name is then an error, and
        every other name still works."""
        if self._entry_points_read:
            return
        self._entry_points_read = True
        for ep in self._entry_points():
            if ep.name not in self._targets:
                self._targets[ep.name] = ep.value
            elif _as_target(self._targets[ep.name]) != ep.value:
                self.clashes[ep.name] = (f"Entry point '{ep.name} = {ep.value}' in group {self.group} clashes with the "
                                         f"{self.kind} '{ep.name}' already registered as "
                                         f"{_as_target(self._targets[ep.name])}: rename the plugin's entry point.")

    def target(self, name: str) -> T | str | None:
        """What `name` was registered with, not imported: an object, a `"module:attr"` string, or None."""
        self._read_entry_points()
        return self._targets.get(name)

    def get(self, name: str) -> T:
        """The object called `name`, importing it when registered as `"module:attr"`."""
        target = self.target(name)
        if name in self.clashes:
            raise IfirError(self.clashes[name])
        if target is None:
            raise IfirError(f"Unknown {self.kind} '{name}' (known: {', '.join(self)}).{self.suggest(name)}")
        return import_target(target) if isinstance(target, str) else target

    def suggest(self, name: str) -> str:
        """` Did you mean 'a', 'b'?` for the registered names close to `name`, else ''."""
        close = difflib.get_close_matches(name, self.names(), n=3)
        return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""

    def names(self) -> list[str]:
        self._read_entry_points()
        return sorted(self._targets)

    def __iter__(self) -> Iterator[str]:
        self._read_entry_points()
        return iter(list(self._targets))

    def __contains__(self, name: object) -> bool:
        self._read_entry_points()
        return name in self._targets
