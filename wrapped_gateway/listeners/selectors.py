"""Kubernetes label selectors (matchLabels and matchExpressions), evaluated on plain dicts."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


class InvalidSelector(ValueError):
    """The selector cannot be evaluated; the message says which part and why."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str
    values: frozenset[str]

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator == "Exists":
            return present
        if self.operator == "DoesNotExist":
            return not present
        if self.operator == "In":
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values  # NotIn


@dataclass(frozen=True, slots=True)
class LabelSelector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(r.matches(labels) for r in self.requirements)


def parse_selector(raw: Any) -> LabelSelector:
    """A LabelSelector from its API form; an empty selector matches everything."""
    if raw is None:
        return LabelSelector(())
    if not isinstance(raw, Mapping):
        raise InvalidSelector("a label selector must be a mapping")
    requirements = [
        Requirement(str(key), "In", frozenset({str(value)}))
        for key, value in (raw.get("matchLabels") or {}).items()
    ]
    for index, expression in enumerate(raw.get("matchExpressions") or ()):
        requirements.append(_requirement(index, expression))
    return LabelSelector(tuple(requirements))


def _requirement(index: int, expression: Any) -> Requirement:
    where = f"matchExpressions[{index}]"
    if not isinstance(expression, Mapping) or "key" not in expression:
        raise InvalidSelector(f"{where} needs a key and an operator")
    operator = expression.get("operator")
    if operator not in _OPERATORS:
        choices = ", ".join(_OPERATORS)
        raise InvalidSelector(f"{where}: operator {operator!r} is not one of {choices}")
    values = frozenset(str(v) for v in expression.get("values") or ())
    if operator in ("In", "NotIn") and not values:
        raise InvalidSelector(f"{where}: operator {operator} needs at least one value")
    if operator in ("Exists", "DoesNotExist") and values:
        raise InvalidSelector(f"{where}: operator {operator} takes no values")
    return Requirement(str(expression["key"]), str(operator), values)
