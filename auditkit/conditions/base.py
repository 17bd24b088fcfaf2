"""The condition base class: one frozen dataclass per kind, its string form declared once.

A kind declares ``template`` (``"scale/{scale}"``): its fields in braces, each field's type
(float, int or str) giving the text it accepts. ``parse``, ``format``, the grammar shown to users
(``form``: ``scale/<s>``, from each field's ``metadata["shown"]``) and aggregate patterns
(``scale/*``) are all derived from that one template, so no other module spells a condition.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, ClassVar, TypeVar

import torch

from auditkit.errors import AuditError

if TYPE_CHECKING:
    from auditkit.adapters.base import ModelAdapter
    from auditkit.adapters.preprocess import PreprocessConfig
    from auditkit.data.source import DatasetSource

C = TypeVar("C", bound="Condition")
WILDCARD = "*"

# The text each field type accepts: non-negative decimals ("1.25", "0.5"), integers, names.
_FIELD_TEXT = {"float": r"[0-9]+(?:\.[0-9]+)?", "int": r"-?[0-9]+", "str": r"[a-z][a-z0-9_]*"}
_FIELD_TYPE: dict[str, Callable[[str], Any]] = {"float": float, "int": int, "str": str}


def _type_name(f: dataclasses.Field) -> str:
    # a string under ``from __future__ import annotations``, else the class itself
    return f.type if isinstance(f.type, str) else f.type.__name__


def number_text(value: float) -> str:
    """The shortest text that reads back to ``value``: 1.0 -> "1", 1.25 -> "1.25"."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _value_text(value: object) -> str:
    return number_text(value) if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Condition:
    """One input transform of the store: what the images went through before the model.

    Subclasses set the class variables below and implement ``transform``; the hooks
    ``batch_inputs`` / ``batch_outputs`` are for kinds that work on whole batches (ImageNet-C
    corruptions on the model's device; attacks through the model's gradients)."""

    kind: ClassVar[str]  # the first path component of the string form ("scale")
    template: ClassVar[str]  # the string form, fields in braces ("scale/{scale}")
    description: ClassVar[str]  # one line for the run header and docs/conditions.md's grammar table
    version: ClassVar[int] = 1  # bump on any change of the transform: the store recomputes
    needs_grad: ClassVar[bool] = False  # forward passes outside inference mode (attacks)
    choices: ClassVar[dict[str, tuple[object, ...]]] = {}  # allowed values of a field, if limited

    def __post_init__(self) -> None:
        for name in self.choices:
            check_choice(type(self), name, getattr(self, name))

    # ------------------------------------------------------------------ the string form
    @classmethod
    def fields(cls) -> list[dataclasses.Field]:
        return list(dataclasses.fields(cls))

    @classmethod
    def _regex(cls, wildcard: bool = False) -> re.Pattern[str]:
        pattern = re.escape(cls.template)
        for f in cls.fields():
            name, text = f.name, _FIELD_TEXT[_type_name(f)]
            if wildcard:
                text = f"{text}|{re.escape(WILDCARD)}"
            pattern = pattern.replace(re.escape("{" + name + "}"), f"(?P<{name}>{text})")
        return re.compile(pattern)

    @classmethod
    def parse(cls: type[C], text: str) -> C | None:
        """The condition ``text`` names, or None when it is not of this kind. Values are read
        as written; ``auditkit.conditions.parse`` also insists on the canonical text."""
        match = cls._regex().fullmatch(text)
        if match is None:
            return None
        return cls(**{f.name: _FIELD_TYPE[_type_name(f)](match[f.name]) for f in cls.fields()})

    def format(self) -> str:
        return self.template.format(**{f.name: _value_text(getattr(self, f.name)) for f in self.fields()})

    def __str__(self) -> str:
        return self.format()

    @classmethod
    def form(cls) -> str:
        """The grammar as users read it: ``scale/<s>``."""
        return cls.template.format(**{f.name: f"<{f.metadata.get('shown', f.name)}>" for f in cls.fields()})

    # ------------------------------------------------------------------ the store key
    def parameters(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in self.fields()}

    def implementation(self) -> dict[str, object]:
        """Identities of code outside this class whose numbers the result depends on (a step
        factor, a views revision, the ImageNet-C implementation): they enter the store key."""
        return {}

    def store_key(self) -> dict[str, object]:
        """What the prediction store keys this condition by (JSON-able): kind, version,
        parameters and the implementation identities, so a changed transform recomputes."""
        return {"kind": self.kind, "version": self.version, "parameters": self.parameters(), **self.implementation()}

    # ------------------------------------------------------------------ what the runner runs
    def transform(self, preprocess: "PreprocessConfig") -> Callable[[Any], torch.Tensor]:
        """The dataset transform: one PIL image -> the tensor the batch hooks (or the model) take."""
        raise NotImplementedError

    def input_resolution(self, preprocess: "PreprocessConfig") -> int | None:
        """The input size the model must run at, or None for its own."""
        return None

    def batch_inputs(
        self, preprocess: "PreprocessConfig", device: str | torch.device
    ) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """A function of one loaded batch -> the model's input batch, or None (as loaded)."""
        return None

    def batch_outputs(
        self, adapter: "ModelAdapter", source: "DatasetSource"
    ) -> Callable[[torch.Tensor, list[int]], torch.Tensor] | None:
        """A function (batch, dataset positions) -> logits replacing the plain forward pass
        (attacks), or None."""
        return None


def check_choice(kind: type[Condition], name: str, value: object) -> None:
    allowed = kind.choices.get(name)
    if allowed is not None and value not in allowed:
        shown = ", ".join(_value_text(v) for v in allowed)
        raise AuditError(f"{kind.kind} condition: {name} {_value_text(value)!r} is not one of {shown}")


@dataclass(frozen=True)
class Pattern:
    """A set of conditions of one kind, ``*`` standing for any value of a field: the
    ``condition`` of a record aggregated over several conditions (``corrupt/*/*``)."""

    kind: type[Condition]
    values: tuple[tuple[str, object], ...]  # (field, value); value WILDCARD for any

    @classmethod
    def parse(cls, kind: type[Condition], text: str) -> "Pattern | None":
        match = kind._regex(wildcard=True).fullmatch(text)
        if match is None:
            return None
        values = []
        for f in kind.fields():
            value = match[f.name] if match[f.name] == WILDCARD else _FIELD_TYPE[_type_name(f)](match[f.name])
            if value != WILDCARD:
                check_choice(kind, f.name, value)
            values.append((f.name, value))
        return cls(kind, tuple(values))

    def format(self) -> str:
        return self.kind.template.format(**{n: v if v == WILDCARD else _value_text(v) for n, v in self.values})

    def matches(self, condition: Condition) -> bool:
        return type(condition) is self.kind and all(
            value == WILDCARD or getattr(condition, name) == value for name, value in self.values
        )
