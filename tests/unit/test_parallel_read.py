"""A large input is cut at document markers and parsed by several processes: the documents,
their sources and the errors are exactly those of reading it whole."""

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.unit.builders import route_obj
from wrapped_gateway.render import manifests
from wrapped_gateway.render.manifests import ManifestError, iter_documents, read_documents
from wrapped_gateway.render.render import render
from wrapped_gateway.render.yaml_pieces import pieces

# Each line that starts with --- below is inside a scalar only in the eyes of a naive cutter.
TRICKY = """\
kind: First
data:
  literal: |
    --- indented, so content
    ---
  folded: >-
    ---x is no marker either
---
# a comment and an empty document follow
---
--- {kind: Flow}
--- |
  a top-level block scalar
--- "a quoted
  scalar"
...
---
kind: Last
"""


def test_pieces_are_cut_only_before_document_markers_and_rebuild_the_text() -> None:
    cut = pieces("f.yaml", TRICKY, 1)
    assert "".join(p.text for p in cut) == TRICKY
    assert len(cut) == 7, [p.text for p in cut]
    start = 0
    for piece in cut:
        assert piece.first_line == TRICKY.count("\n", 0, start)
        assert start == 0 or piece.text.startswith("---")
        start += len(piece.text)
    whole = list(yaml.safe_load_all(TRICKY))
    assert [d for p in cut for d in yaml.safe_load_all(p.text)] == whole


def test_a_stream_with_directives_is_not_cut() -> None:
    text = "a: 1\n--- \n%YAML 1.1\n---\nb: 2\n" * 10
    assert len(pieces("f.yaml", text, 1)) == 1


def test_a_short_tail_joins_the_piece_before_it() -> None:
    text = "---\n" + "a: 1\n" * 100 + "---\nb: 2\n"
    assert len(pieces("f.yaml", text, 200)) == 1


def large_manifest(routes: int, broken_at: int | None = None) -> str:
    """Over half a megabyte, so that two processes read it."""
    texts = [
        yaml.safe_dump(route_obj(name=f"r{i}", hostnames=[f"h{i}.example.com"] * 8))
        for i in range(routes)
    ]
    if broken_at is not None:
        texts[broken_at] = "kind: [unclosed\n"
    return "---\n" + "---\n".join(texts)


@pytest.fixture(scope="module")
def large_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("large") / "routes.yaml"
    path.write_text(large_manifest(2000))
    assert path.stat().st_size > 700_000
    return path


def test_two_processes_read_what_one_reads(large_file: Path) -> None:
    alone = read_documents([str(large_file)], workers=1)
    together = read_documents([str(large_file), str(large_file)], workers=2)
    assert [(d.source, d.obj) for d in together] == [(d.source, d.obj) for d in alone] * 2
    assert together[-1].source == f"{large_file} (document 2000)"


def test_an_error_in_a_later_piece_names_its_document_and_line_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    text = large_manifest(2000, broken_at=1900)
    path.write_text(text)
    line = text[: text.index("kind: [unclosed")].count("\n") + 2  # the error is on the next line
    for workers in (1, 2):
        with pytest.raises(ManifestError) as error:
            read_documents([str(path)], workers=workers)
        expected = f"{path} (document 1901): not valid YAML at line {line},"
        assert str(error.value).startswith(expected)


def test_no_parser_outlives_its_file_while_the_collector_is_paused(tmp_path: Path) -> None:
    """Reading pauses the garbage collector; a parser kept alive by a reference cycle would
    hold its file's text until the collector runs again, for every file of a directory."""
    for index in range(20):
        (tmp_path / f"r{index}.yaml").write_text(f"kind: X\nmetadata: {{name: r{index}}}\n")
    enabled = gc.isenabled()
    gc.disable()
    try:
        assert len(read_documents([str(tmp_path)])) == 20
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        assert not [o for o in gc.get_objects() if isinstance(o, loader)]
    finally:
        if enabled:
            gc.enable()


def test_the_first_problem_in_document_order_is_reported_however_many_processes_read(
    tmp_path: Path,
) -> None:
    """Documents reach the caller while later ones are still being parsed, so a problem the
    caller finds early (here a duplicate) comes before a syntax error further on."""
    path = tmp_path / "broken.yaml"
    text = large_manifest(2000, broken_at=1900)
    path.write_text(text + "---\n" + yaml.safe_dump(route_obj(name="r3")))
    for workers in (1, 2):
        with pytest.raises(ManifestError) as error:
            render(iter_documents([str(path)], workers=workers))
        assert str(error.value).startswith(f"{path} (document 1901): not valid YAML")
    path.write_text(text.replace("name: r5\n", "name: r3\n", 1))
    for workers in (1, 2):
        with pytest.raises(ManifestError, match=r"\(document 6\): HTTPRoute .* also defined"):
            render(iter_documents([str(path)], workers=workers))


def test_a_parsing_process_that_dies_costs_time_not_documents(
    large_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone = read_documents([str(large_file)], workers=1)
    # The forked process inherits the patch: it ends at once, without answering.
    monkeypatch.setattr(manifests, "_answer_and_exit", lambda *_: os._exit(1))
    together = read_documents([str(large_file)], workers=2)
    assert [(d.source, d.obj) for d in together] == [(d.source, d.obj) for d in alone]


@pytest.fixture
def forked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The processes the test forks, each checked to be reaped by the end: no process, no
    zombie (other tests of the session may have children of their own)."""
    pids: list[int] = []
    fork = os.fork

    def recorded() -> int:
        pid = fork()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", recorded)
    yield pids
    for pid in pids:
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)


def test_a_reader_that_stops_early_leaves_no_process_behind(
    large_file: Path, forked: list[int]
) -> None:
    documents = iter_documents([str(large_file)], workers=2)
    assert next(documents).source == f"{large_file} (document 1)"
    documents.close()
    assert len(forked) == 1  # and reaped: see the fixture


@pytest.mark.parametrize("refused", ["fork", "memfd_create"])
def test_a_system_that_refuses_a_process_or_a_memory_file_still_reads_everything(
    large_file: Path, monkeypatch: pytest.MonkeyPatch, forked: list[int], refused: str
) -> None:
    alone = read_documents([str(large_file)], workers=1)

    def refuse(*_: object) -> None:
        raise PermissionError(f"{refused} is not allowed here")

    monkeypatch.setattr(os, refused, refuse)
    together = read_documents([str(large_file)], workers=2)
    assert [(d.source, d.obj) for d in together] == [(d.source, d.obj) for d in alone]
    assert len(forked) == (refused != "fork")  # and reaped: see the fixture
