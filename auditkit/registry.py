"""A registry of named things (suites, model presets, datasets) with "did you mean".

Entries may be objects or lazy ``"module:attr"`` strings, resolved on first use, so listing a
registry never imports torch models or heavy suites.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from typing import Generic, Iterator, TypeVar

from auditkit.errors import AuditError

T = TypeVar("T")


def did_you_mean(name: str, choices: list[str]) -> str:
    """A ' (did you mean X?)' hint for a mistyped name, or '' when nothing is close."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def import_attr(target: str) -> object:
    """Import ``"package.module:attr"``."""
    module_name, _, attr = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attr)


@dataclass
class Registry(Generic[T]):
    """Named entries of one kind; ``kind`` is used in error messages ("suite", "model").

    ``base``: what every entry must be, checked when it is registered (or, for a lazy
    ``"module:attr"`` entry, when it is first resolved): an instance of ``base``, or with
    ``classes=True`` a subclass of it (suites register their classes)."""

    kind: str
    base: type | None = None
    classes: bool = False
    _entries: dict[str, T | str] = field(default_factory=dict)

    def register(self, name: str, entry: T | str) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        if not isinstance(entry, str):
            self._check(name, entry)
        self._entries[name] = entry

    def _check(self, name: str, entry: object) -> None:
        if self.base is None:
            return
        fits = (isinstance(entry, type) and issubclass(entry, self.base)) if self.classes else isinstance(entry, self.base)
        if not fits:
            what = f"a subclass of {self.base.__name__}" if self.classes else f"a {self.base.__name__}"
            raise TypeError(f"{self.kind} {name!r} is registered as {entry!r}, which is not {what}")

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def get(self, name: str) -> T:
        if name not in self._entries:
            raise AuditError(
                f"unknown {self.kind} {name!r}{did_you_mean(name, self.names())}; "
                f"see `audit ls {self.kind}s`"
            )
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = import_attr(entry)  # type: ignore[assignment]
            self._check(name, entry)
            self._entries[name] = entry
        return entry  # type: ignore[return-value]
