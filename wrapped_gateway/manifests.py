"""Reading Kubernetes manifests from files, directories and stdin, naming where each came from."""

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

_SUFFIXES = (".yaml", ".yml")


class ManifestError(Exception):
    """Input that cannot be read; the message names the file and document."""


@dataclass(frozen=True, slots=True)
class Document:
    source: str  # "path (document N)"
    obj: Mapping[str, Any]

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion", ""))

    @property
    def kind(self) -> str:
        return str(self.obj.get("kind", ""))

    @property
    def identity(self) -> str:
        metadata = self.obj.get("metadata") or {}
        namespace = metadata.get("namespace")
        name = metadata.get("name", "")
        return f"{self.kind} {namespace}/{name}" if namespace else f"{self.kind} {name}"


def read_documents(paths: list[str]) -> list[Document]:
    documents: list[Document] = []
    for path in paths:
        for file, text in _files(path):
            documents.extend(_parse(file, text))
    return documents


def _files(path: str) -> Iterator[tuple[str, str]]:
    if path == "-":
        yield "<stdin>", sys.stdin.read()
        return
    root = Path(path)
    if root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
    elif root.is_file():
        files = [root]
    else:
        raise ManifestError(f"{path}: no such file or directory")
    for file in files:
        try:
            yield str(file), file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise ManifestError(f"{file}: cannot be read: {error}") from None


def _parse(file: str, text: str) -> Iterator[Document]:
    try:
        loaded = list(yaml.safe_load_all(text))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ManifestError(f"{file}{where}: not valid YAML: {problem}") from None
    for index, obj in enumerate(loaded, start=1):
        source = f"{file} (document {index})"
        if obj is None:
            continue  # an empty document between separators
        if not isinstance(obj, Mapping):
            raise ManifestError(f"{source}: expected a Kubernetes object, not {type(obj).__name__}")
        if str(obj.get("kind", "")).endswith("List") and "items" in obj:
            for item_index, item in enumerate(obj.get("items") or (), start=1):
                if not isinstance(item, Mapping):
                    raise ManifestError(f"{source} item {item_index}: expected a Kubernetes object")
                yield Document(f"{source} item {item_index}", item)
        else:
            yield Document(source, obj)
