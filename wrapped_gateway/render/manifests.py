"""Reading Kubernetes manifests from files, directories and stdin, naming where each came from."""

import functools
import gc
import os
import pickle
import signal
import sys
import tempfile
from collections.abc import Generator, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from wrapped_gateway.constants import ObjectKey
from wrapped_gateway.render.yaml_pieces import Piece, pieces

_SUFFIXES = (".yaml", ".yml")

# libyaml parses several times faster than the pure-Python parser, and stops at 1,000 levels of
# nesting where the pure-Python one overflows Python's stack.
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BASE_LOADER):  # type: ignore[misc, valid-type]
    """The safe loader, with the tag of each scalar resolved once per distinct value.

    Even libyaml's parser calls the Python resolver for every scalar, and its regular
    expressions would be half the loading time; a manifest repeats the same keys and values in
    every object. The tag depends on nothing but (kind, value, implicit) because the safe
    loader has no path resolvers, whose bookkeeping is skipped for the same reason. The cache
    is functools' (in C), about a tenth faster than a Python method in front of a dict.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.resolve = functools.lru_cache(maxsize=None)(super().resolve)

    def dispose(self) -> None:
        super().dispose()
        # The cache holds the loader (its bound method), and the collector is paused while
        # reading: without this, every file's loader and text would live until it runs again.
        del self.resolve

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass


_LOADER = _Loader

# Deeper than any Kubernetes object (CRD schemas included), and shallow enough that printing a
# Gateway that copies the input stays far from Python's recursion limit.
MAX_NESTING = 100
# Aliases may repeat parts of a document but not blow it up ("billion laughs"): printing the
# Gateway as JSON, or a refused value in a message, expands every alias.
MAX_ALIAS_GROWTH = 10
_ALIAS_ALLOWANCE = 10_000  # values any document may add through aliases

_STR, _MAP, _SEQ, _MERGE = (f"tag:yaml.org,2002:{name}" for name in ("str", "map", "seq", "merge"))


class ManifestError(Exception):
    """Input that cannot be read; the message names the file and document."""


@dataclass(frozen=True, slots=True)
class Document:
    """One object and where it came from. Its apiVersion, kind and metadata have the shape of a
    Kubernetes object's (checked on construction, when the fields below are read once: `render`
    asks for them several times per object); everything else is the reader's to check."""

    source: str  # "path (document N)"
    obj: Mapping[str, Any]
    api_version: str = field(init=False)
    kind: str = field(init=False)
    metadata: Mapping[str, Any] = field(init=False)
    name: str = field(init=False)
    namespace: str = field(init=False)  # as written: empty when not given

    def __post_init__(self) -> None:
        problem = _shape_problem(self.obj)
        if problem:
            raise ManifestError(f"{self.source}: {problem}")
        metadata = self.obj.get("metadata") or {}
        set_field = object.__setattr__  # frozen
        set_field(self, "api_version", str(self.obj.get("apiVersion") or ""))
        set_field(self, "kind", str(self.obj.get("kind") or ""))
        set_field(self, "metadata", metadata)
        set_field(self, "name", str(metadata.get("name") or ""))
        set_field(self, "namespace", str(metadata.get("namespace") or ""))

    @property
    def identity(self) -> str:
        if self.namespace:
            return f"{self.kind} {ObjectKey.spell(self.namespace, self.name)}"
        return f"{self.kind} {self.name}"


def _shape_problem(obj: Mapping[str, Any]) -> str | None:
    for field_name in ("apiVersion", "kind"):
        value = obj.get(field_name)
        if value is not None and not isinstance(value, str):
            return f"{field_name} must be a string, not {_type_name(value)}"
    kind = obj.get("kind") or "object"
    metadata = obj.get("metadata")
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        return f"{kind}: metadata must be a mapping, not {_type_name(metadata)}"
    for field_name in ("name", "namespace"):
        value = metadata.get(field_name)
        if value is not None and not isinstance(value, str):
            return f"{kind}: metadata.{field_name} must be a string, not {_type_name(value)}"
    return None


def _type_name(value: object) -> str:
    return type(value).__name__


def read_documents(paths: list[str], workers: int | None = None) -> list[Document]:
    """The objects in `paths`, in order (see `iter_documents`)."""
    return list(iter_documents(paths, workers))


def iter_documents(paths: list[str], workers: int | None = None) -> Generator[Document, None, None]:
    """The objects in `paths`, in order; a large input is parsed by `workers` processes (by
    default one per usable CPU), since parsing YAML is most of the time `render` takes. The
    documents this process parsed come first, while the others are still being parsed: what
    the caller does with them overlaps with that."""
    texts = [file_text for path in paths for file_text in _files(path)]
    total = sum(len(text) for _, text in texts)
    workers = min(workers or _usable_cpus(), total // _MIN_SHARE)
    if workers > 1:
        # This process takes a smaller first share: it also runs the caller's work on every
        # document, its own and the others' as they come.
        share = int(total / (workers - 1 + _OWN_SHARE))
        all_pieces = [p for file, text in texts for p in pieces(file, text, share // _CUTS)]
        tasks = _tasks(all_pieces, [int(share * _OWN_SHARE), *[share] * (workers - 1)])
    else:
        tasks = [[Piece(file, text) for file, text in texts]]
    numbered = 0  # documents of the current file read so far
    # Everything read lives on: the collector's passes over it while loading free nothing and
    # take a third of the loading time.
    with collector_paused():
        for piece, (objects, problem) in _parsed(tasks):
            if piece.first_line == 0:
                numbered = 0  # a file starts
            for obj in objects:
                numbered += 1
                yield from _documents(f"{piece.file} (document {numbered})", obj)
            if problem:
                raise ManifestError(f"{piece.file} (document {numbered + 1}): {problem}")


# Passing a piece's objects back costs about a tenth of parsing it (pickled both ways), and
# starting a process some milliseconds: below this many characters each, no process is worth it.
_MIN_SHARE = 256 * 1024
# What this process parses, against another process's share: it also runs the caller's work
# on every document (checking and modelling them, in `render` half as long as parsing them),
# each piece of the others as soon as it is parsed. Anywhere from 0.3 to 0.75 does about as well.
_OWN_SHARE = 0.45
_CUTS = 8  # pieces per share, so that the shares can be uneven


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _tasks(all_pieces: list[Piece], shares: list[int]) -> list[list[Piece]]:
    """The pieces in consecutive groups of about `shares` characters, one group per process;
    the last takes whatever is left."""
    tasks: list[list[Piece]] = [[]]
    size = 0
    for piece in all_pieces:
        if size >= shares[len(tasks) - 1] and len(tasks) < len(shares):
            tasks.append([])
            size = 0
        tasks[-1].append(piece)
        size += len(piece.text)
    return tasks


_Parsed = tuple[list[Any], str | None]  # a piece's objects, and the problem that stopped it


def _parsed(tasks: list[list[Piece]]) -> Iterator[tuple[Piece, _Parsed]]:
    """Each piece with what parsing it found, in order; the first task is parsed here, the
    others in forked processes meanwhile."""
    others = _forked(tasks[1:]) if len(tasks) > 1 and hasattr(os, "fork") else None
    if others is None:
        yield from ((piece, _parse_piece(piece)) for task in tasks for piece in task)
        return
    try:
        yield from ((piece, _parse_piece(piece)) for piece in tasks[0])
        for task, other in zip(tasks[1:], others, strict=True):
            yield from zip(task, other.answers(), strict=True)
    finally:
        for other in others:
            other.end()


def _forked(tasks: list[list[Piece]]) -> list["_ForkedParse"] | None:
    """Each task being parsed in a process of its own; None when no process or scratch file is
    to be had (a sandbox, a full process table)."""
    others: list[_ForkedParse] = []
    try:
        for task in tasks:
            others.append(_ForkedParse(task))
    except OSError:
        for other in others:
            other.end()
        return None
    return others


class _ForkedParse:
    """A task parsed in a forked process, which has the text already: only the parsed
    objects travel. Each piece's objects are pickled into a file of their own and announced
    through a pipe as soon as written, so that the reader uses them while the process parses
    the next piece (a pipe alone would hold up the process once its buffer is full)."""

    def __init__(self, task: list[Piece]) -> None:
        self._task = task
        self._files: list[BinaryIO] = []
        self._pid: int | None = None
        read_end, write_end = os.pipe()
        self._announced = open(read_end, "rb", buffering=0)  # noqa: SIM115 (closed by end())
        try:
            self._files.extend(_scratch_file() for _ in task)
            self._pid = os.fork()
        except OSError:
            os.close(write_end)
            self.end()
            raise
        if self._pid == 0:  # the child
            self._announced.close()
            _answer_and_exit(task, self._files, write_end)
        os.close(write_end)

    def answers(self) -> Iterator[_Parsed]:
        """What the process found, piece by piece; what it did not answer (it died) is parsed
        here after all."""
        for piece, file in zip(self._task, self._files, strict=True):
            if self._announced.read(1):
                file.seek(0)
                yield pickle.load(file)
            else:
                yield _parse_piece(piece)

    def end(self) -> None:
        """Stops the process if it is still parsing (the reader stopped early) and reaps it."""
        self._announced.close()
        for file in self._files:
            file.close()
        if self._pid is not None:
            with suppress(ProcessLookupError):
                os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None


def _scratch_file() -> BinaryIO:
    """A file in memory where the system has them, else a temporary one; gone once closed."""
    if hasattr(os, "memfd_create"):
        with suppress(OSError):  # a sandbox may refuse it
            return open(os.memfd_create("wrapped-gateway-piece"), "w+b")
    return tempfile.TemporaryFile()


def _answer_and_exit(task: list[Piece], files: list[BinaryIO], announce: int) -> NoReturn:
    """In the forked process: parse `task` a piece at a time, write each piece's objects and
    announce them, and end without running any of the parent's exit handlers."""
    code = 1
    try:
        with open(announce, "wb", buffering=0) as announced:
            for piece, file in zip(task, files, strict=True):
                pickle.dump(_parse_piece(piece), file, pickle.HIGHEST_PROTOCOL)
                file.flush()
                announced.write(b".")
        code = 0
    finally:
        os._exit(code)


@contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


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


def _documents(source: str, obj: Any) -> Iterator[Document]:
    if obj is None:
        return  # an empty document between separators
    if not isinstance(obj, Mapping):
        raise ManifestError(f"{source}: expected a Kubernetes object, not {_type_name(obj)}")
    if str(obj.get("kind", "")).endswith("List") and "items" in obj:
        yield from _items(source, obj)
    else:
        yield Document(source, obj)


def _items(source: str, listing: Mapping[str, Any]) -> Iterator[Document]:
    """The objects of a kubectl List (or an HTTPRouteList, ...)."""
    items = listing["items"]
    if items is None:
        return
    if not isinstance(items, list):
        raise ManifestError(
            f"{source}: {listing['kind']}.items must be a list of objects, not {_type_name(items)}"
        )
    for index, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            raise ManifestError(
                f"{source} item {index}: expected a Kubernetes object, not {_type_name(item)}"
            )
        yield Document(f"{source} item {index}", item)


def _parse_piece(piece: Piece) -> _Parsed:
    """The Python objects of each YAML document of `piece` (None for an empty one), up to the
    first that cannot be read, and what is wrong with that one."""
    loader = _LOADER(piece.text)
    objects: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            objects.append(None if node is None else _ObjectBuilder(loader).build(node))
    except yaml.YAMLError as error:
        return objects, _yaml_problem(error, piece.first_line)
    except RecursionError:
        # Only the pure-Python parser gets here: libyaml refuses such nesting itself.
        return objects, "cannot be read: nested too deeply"
    finally:
        loader.dispose()
    return objects, None


def _yaml_problem(error: yaml.YAMLError, first_line: int) -> str:
    mark = getattr(error, "problem_mark", None)
    where = f" at line {first_line + mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = getattr(error, "problem", None) or str(error)
    verdict = "cannot be read" if isinstance(error, _Refused) else "not valid YAML"
    return f"{verdict}{where}: {' '.join(problem.split())}"


class _Refused(yaml.MarkedYAMLError):
    """Valid YAML that is not read: nested too deeply, or expanded too far by aliases."""


class _ObjectBuilder:
    """The Python objects of one YAML document, built from its nodes.

    Stands in for PyYAML's constructor, whose per-node bookkeeping is most of the loading time:
    mappings, sequences and strings (nearly every node of a manifest) are built here directly;
    other scalars (numbers, booleans, null, timestamps) still go to the safe constructor. The
    objects are the same, except that nesting deeper than MAX_NESTING and aliases that expand
    the document more than MAX_ALIAS_GROWTH-fold are refused, and of YAML's collection types
    only mappings and sequences are read (Kubernetes reads no others).
    """

    def __init__(self, loader: Any) -> None:
        self._loader = loader
        # Collections already built: an alias gives the same object, as in PyYAML. Registered
        # once complete, so an alias inside its own anchor nests until MAX_NESTING refuses it.
        self._built: dict[Node, Any] = {}
        self._aliased = False

    def build(self, root: Node) -> Any:
        try:
            obj = self._object(root, 0)
        finally:
            self._loader.constructed_objects.clear()  # the safe constructor's scalars
        if self._aliased:
            self._check_alias_growth(root)
        return obj

    def _object(self, node: Node, depth: int) -> Any:
        if isinstance(node, ScalarNode):
            return node.value if node.tag == _STR else self._scalar(node)
        built = self._built.get(node)
        if built is not None:
            self._aliased = True
            return built
        if depth == MAX_NESTING:
            raise _Refused(
                problem=f"nested more than {MAX_NESTING} levels deep", problem_mark=node.start_mark
            )
        if node.tag == _MAP and isinstance(node, MappingNode):
            built = self._mapping(node, depth + 1)
        elif node.tag == _SEQ and isinstance(node, SequenceNode):
            built = [self._object(item, depth + 1) for item in node.value]
        else:
            raise ConstructorError(
                problem=f"the tag {node.tag} is not read; only mappings and sequences are",
                problem_mark=node.start_mark,
            )
        self._built[node] = built
        return built

    def _scalar(self, node: ScalarNode) -> Any:
        try:
            return self._loader.construct_object(node, deep=True)
        except (ValueError, KeyError, AttributeError, TypeError, OverflowError) as error:
            # What PyYAML's scalar constructors raise on a value that only looks like their
            # type, such as the date 2024-13-45 or `!!int abc`.
            raise ConstructorError(
                problem=f"not a valid {node.tag}: {error}", problem_mark=node.start_mark
            ) from None

    def _mapping(self, node: MappingNode, depth: int) -> dict[Any, Any]:
        mapping: dict[Any, Any] = {}
        merged: list[dict[Any, Any]] = []  # lowest precedence first
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.extend(self._merge_sources(node, value_node, depth))
            elif isinstance(key_node, ScalarNode):
                key = key_node.value if key_node.tag == _STR else self._scalar(key_node)
                mapping[key] = self._object(value_node, depth)
            else:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    "found unhashable key",
                    key_node.start_mark,
                )
        if not merged:
            return mapping
        result: dict[Any, Any] = {}
        for source in merged:
            result.update(source)
        result.update(mapping)
        return result

    def _merge_sources(
        self, node: MappingNode, value_node: Node, depth: int
    ) -> list[dict[Any, Any]]:
        """What a merge key (`<<: *defaults`) brings in, lowest precedence first. As in the YAML
        merge-key spec and kubectl, the mapping's own keys win, then the first mapping of a
        merged list (PyYAML 6.0.4 lets the last one win, unless the keys are one character)."""
        value = self._object(value_node, depth)
        if isinstance(value, dict):
            return [value]
        if isinstance(value, list) and all(isinstance(item, dict) for item in value):
            return value[::-1]
        raise ConstructorError(
            "while constructing a mapping",
            node.start_mark,
            "expected a mapping or list of mappings for merging",
            value_node.start_mark,
        )

    def _check_alias_growth(self, root: Node) -> None:
        sizes: dict[Node, int] = {}
        expanded = _expanded_size(root, sizes)
        if expanded > MAX_ALIAS_GROWTH * len(sizes) + _ALIAS_ALLOWANCE:
            raise _Refused(
                problem=f"aliases expand the document from {len(sizes):,} to {expanded:,} "
                f"values; at most {MAX_ALIAS_GROWTH}-fold is read",
                problem_mark=root.start_mark,
            )


def _expanded_size(node: Node, sizes: dict[Node, int]) -> int:
    """How many values `node` holds with every alias written out; `sizes` holds each distinct
    node's. Linear in the distinct nodes; the nesting is known to be bounded and acyclic."""
    size = sizes.get(node)
    if size is None:
        if isinstance(node, MappingNode):
            pairs = node.value
            size = 1 + sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in pairs)
        elif isinstance(node, SequenceNode):
            size = 1 + sum(_expanded_size(item, sizes) for item in node.value)
        else:
            size = 1
        sizes[node] = size
    return size
