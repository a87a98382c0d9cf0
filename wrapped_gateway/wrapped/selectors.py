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
    """A LabelSelector from its API form; an empty selector matches everything.

    Raises InvalidSelector for anything the API server would refuse to read, such as a label
    value YAML read as a number or boolean: converted, it would match no label.
    """
    if raw is None:
        return LabelSelector(())
    if not isinstance(raw, Mapping):
        raise InvalidSelector(f"a label selector must be a mapping, not {_type_name(raw)}")
    requirements = [
        *_match_labels(raw.get("matchLabels")),
        *_match_expressions(raw.get("matchExpressions")),
    ]
    return LabelSelector(tuple(requirements))


def _match_labels(raw: Any) -> list[Requirement]:
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise InvalidSelector(f"matchLabels must be a mapping, not {_type_name(raw)}")
    requirements = []
    for key, value in raw.items():
        if not isinstance(key, str):
            raise InvalidSelector(f"matchLabels has a {_type_name(key)} key; keys are strings")
        if not isinstance(value, str):
            raise InvalidSelector(f"matchLabels.{key} must be a string, not {_type_name(value)}")
        requirements.append(Requirement(key, "In", frozenset({value})))
    return requirements


def _match_expressions(raw: Any) -> list[Requirement]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidSelector(f"matchExpressions must be a list, not {_type_name(raw)}")
    return [_requirement(index, expression) for index, expression in enumerate(raw)]


def _requirement(index: int, expression: Any) -> Requirement:
    where = f"matchExpressions[{index}]"
    if not isinstance(expression, Mapping) or "key" not in expression:
        raise InvalidSelector(f"{where} needs a key and an operator")
    key = expression["key"]
    if not isinstance(key, str):
        raise InvalidSelector(f"{where}.key must be a string, not {_type_name(key)}")
    operator = expression.get("operator")
    if operator not in _OPERATORS:
        shown = repr(operator) if isinstance(operator, str) else f"of type {_type_name(operator)}"
        raise InvalidSelector(f"{where}: operator {shown} is not one of {', '.join(_OPERATORS)}")
    raw_values = expression.get("values")
    if raw_values is None:
        raw_values = []
    if not isinstance(raw_values, list) or not all(isinstance(v, str) for v in raw_values):
        raise InvalidSelector(f"{where}.values must be a list of strings")
    values = frozenset(raw_values)
    if operator in ("In", "NotIn") and not values:
        raise InvalidSelector(f"{where}: operator {operator} needs at least one value")
    if operator in ("Exists", "DoesNotExist") and values:
        raise InvalidSelector(f"{where}: operator {operator} takes no values")
    return Requirement(key, operator, values)


def _type_name(value: object) -> str:
    return type(value).__name__
