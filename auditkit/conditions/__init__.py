"""Conditions: the input transforms of the prediction store, as a registry of kinds.

A condition is exactly what the images went through before the model; it is the ``condition``
of a store request and of every metric record computed from it. Each kind is a frozen
dataclass (``auditkit.conditions.base.Condition``) whose ``template`` is the only definition of
its string form; its kind, parameters, ``version`` and the identity of the code behind it
(``store_key()``) key the prediction store, so a changed transform recomputes instead of
serving old predictions.

Grammar (``E`` in 1/255 of the pixel range; numbers written shortest, ``scale/1`` not ``scale/1.0``):

==============================  =====================================================================
``none``                        the model's preprocessing (resize, center crop, normalise)
``native``                      no resize or crop (stimuli at the input size), the model's mean/std
``scale/<s>``                   Resize(round(s * resize)) + CenterCrop(input), bilinear
``shift/<px>``                  the center-crop window moved px original pixels, black outside
``resolution/<r>``              Resize(floor(r / crop_pct)) + CenterCrop(r), the model run at r
``squash/<r>``                  the whole image resized to (r, r), no crop, the model run at r
``corrupt/<name>/<severity>``   ImageNet-C made from val (auditkit.data.corruptions)
``fgsm/eps<E>``                 untargeted L-inf FGSM on the resized, cropped pixels
``pgd/eps<E>/steps<S>/seed<K>`` untargeted L-inf PGD, S steps of 2.5 E/S, seeded random start
``autoattack/eps<E>/steps<S>/``  AutoAttack's standard version (APGD-CE, APGD-T, FAB-T, Square, worst
``queries<Q>/seed<K>``           case per image; standard budget: steps100/queries5000)
``finetune/<r>/frac<f>/seed<k>`` fine-tuned on fraction f of train under recipe r, repeat k (test logits)
==============================  =====================================================================

A record aggregated over several conditions names them with ``*`` in parameter positions
(``corrupt/*/*``, ``corrupt/fog/*``, ``scale/*``): ``parse_pattern`` and ``matches`` read them.

    >>> parse("scale/1.5")
    Scale(scale=1.5)
    >>> Pgd(2.0, 10, 0).format()
    'pgd/eps2/steps10/seed0'
    >>> matches("corrupt/fog/*", "corrupt/fog/3")
    True
"""

from __future__ import annotations

from auditkit.conditions.attacks import Attack, Fgsm, Pgd
from auditkit.conditions.autoattack import AutoAttack
from auditkit.conditions.base import WILDCARD, Condition, Pattern
from auditkit.conditions.corruption import Corruption
from auditkit.conditions.finetune import Finetune
from auditkit.conditions.plain import Native, Plain
from auditkit.conditions.scratch import Scratch
from auditkit.conditions.squash import Squash
from auditkit.conditions.views import Resolution, Scale, Shift
from auditkit.errors import AuditError
from auditkit.registry import did_you_mean

# kind name -> class, in the order the grammar is shown
KINDS: dict[str, type[Condition]] = {
    kind.kind: kind for kind in (Plain, Native, Scale, Shift, Resolution, Squash, Corruption, Fgsm, Pgd, AutoAttack,
                                 Finetune, Scratch)
}

__all__ = ["KINDS", "WILDCARD", "Attack", "AutoAttack", "Condition", "Corruption", "Fgsm", "Finetune", "Native",
           "Pattern", "Pgd", "Plain", "Resolution", "Scale", "Scratch", "Shift", "Squash", "describe", "forms", "matches", "parse",
           "parse_pattern"]


def forms() -> list[str]:
    """Every kind's grammar: ``none``, ``scale/<s>``, ..."""
    return [kind.form() for kind in KINDS.values()]


def _kind(text: str, what: str) -> type[Condition]:
    name = text.split("/", 1)[0]
    if name not in KINDS:
        raise AuditError(f"unknown {what} {text!r}{did_you_mean(name, list(KINDS))}; "
                         f"a condition is one of {', '.join(forms())}")
    return KINDS[name]


def parse(text: str | Condition) -> Condition:
    """The condition ``text`` names; an ``AuditError`` naming the grammar for anything else,
    including a non-canonical spelling (``scale/1.0`` is written ``scale/1``)."""
    if isinstance(text, Condition):
        return text
    kind = _kind(text, "condition")
    condition = kind.parse(text)
    if condition is None:
        raise AuditError(f"condition {text!r} does not read as {kind.form()}")
    if condition.format() != text:  # one text per condition: records and store keys never split
        raise AuditError(f"condition {text!r} is written {condition.format()!r}")
    return condition


def describe(text: str | Condition) -> str:
    """One line saying what the condition does to the images."""
    return parse(text).description


def parse_pattern(text: str) -> Pattern:
    """A condition or a pattern with ``*`` in parameter positions (``corrupt/*/*``)."""
    kind = _kind(text, "condition pattern")
    pattern = Pattern.parse(kind, text)
    if pattern is None:
        raise AuditError(f"condition pattern {text!r} does not read as {kind.form()} (with * for any value)")
    if pattern.format() != text:
        raise AuditError(f"condition pattern {text!r} is written {pattern.format()!r}")
    return pattern


def matches(pattern: str | Pattern, condition: str | Condition) -> bool:
    """Whether ``condition`` is one of the conditions ``pattern`` stands for."""
    chosen = parse_pattern(pattern) if isinstance(pattern, str) else pattern
    return chosen.matches(parse(condition))
