"""`wrapped-gateway render` on hostile or malformed input: one error line, never a traceback.

Every malformed document ends the command with exit code 1 and one stderr line naming the file
and document. Routes with mistyped fields are not malformed documents: they are refused on their
own (see test_properties.py).
"""

import copy
import random
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.builders import route_obj, wrapped_obj
from wrapped_gateway.cli import main
from wrapped_gateway.render import manifests
from wrapped_gateway.render.manifests import read_documents


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["render", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write(path: Path, *objects: object) -> Path:
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return path


def assert_one_error_line(code: int, out: str, err: str, source: str) -> str:
    assert "Traceback" not in err
    assert code == 1, err
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith(f"wrapped-gateway render: error: {source}"), line
    return line


# --------------------------------------------------------------------------------------------
# One object, however its namespace is spelled
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "obj",
    [
        wrapped_obj(namespace="default"),
        route_obj(namespace="default", hostnames=["a.example.com"]),
        route_obj("TCPRoute", namespace="default"),
    ],
    ids=["WrappedGateway", "HTTPRoute", "TCPRoute"],
)
def test_an_object_without_a_namespace_duplicates_the_same_object_in_default(
    obj: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    without = copy.deepcopy(obj)
    del without["metadata"]["namespace"]
    write(tmp_path / "in.yaml", without, obj)
    line = assert_one_error_line(
        *run(capsys, "-f", str(tmp_path / "in.yaml")), f"{tmp_path / 'in.yaml'} (document 2)"
    )
    assert f"{obj['kind']} default/{obj['metadata']['name']} is also defined in " in line
    assert line.endswith("in.yaml (document 1)")


def test_a_namespace_written_on_a_namespace_object_does_not_make_it_another_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Namespaces are cluster-scoped: the API server ignores a namespace written on one."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}}
    spelled_namespaced = copy.deepcopy(namespace)
    spelled_namespaced["metadata"]["namespace"] = "default"
    write(tmp_path / "in.yaml", namespace, spelled_namespaced)
    line = assert_one_error_line(
        *run(capsys, "-f", str(tmp_path / "in.yaml")), f"{tmp_path / 'in.yaml'} (document 2)"
    )
    assert "Namespace team-a is also defined in " in line


def test_a_namespace_object_is_read_whatever_namespace_is_written_on_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = {
        "routes": {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"gw": "y"}}}}
    }
    write(
        tmp_path / "in.yaml",
        wrapped_obj(spec=policy),
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "team-a", "namespace": "kube-system", "labels": {"gw": "y"}},
        },
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-b"}},
        route_obj(name="a", namespace="team-a", hostnames=["a.example.com"]),
    )
    code, out, err = run(capsys, "-f", str(tmp_path / "in.yaml"))
    assert code == 0, err
    (gateway,) = yaml.safe_load_all(out)
    assert [listener["hostname"] for listener in gateway["spec"]["listeners"]] == ["a.example.com"]


# --------------------------------------------------------------------------------------------
# Malformed documents: exit 1, one line naming the file and document
# --------------------------------------------------------------------------------------------

WRAPPED = """\
apiVersion: wrapped-gateway.dev/v1alpha1
kind: WrappedGateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: example
  routes:
    namespaces:
      from: Selector
      selector: SELECTOR
"""
ROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: METADATA
spec: {parentRefs: [{name: gw, namespace: infra}], hostnames: [a.example.com]}
"""


def wrapped_with_selector(selector: str) -> str:
    return WRAPPED.replace("SELECTOR", selector)


def route_with_metadata(metadata: str) -> str:
    return ROUTE.replace("METADATA", metadata)


def nested_spec(levels: int) -> str:
    return wrapped_with_selector("{}") + "  infrastructure: " + "{a: " * levels + "1" + "}" * levels


LAUGHS = "\n".join(
    ["  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"  l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, 7)]
)

# (id, YAML text of the file, the document the error names, what the error says)
MALFORMED: list[tuple[str, str, int, str]] = [
    ("wrapped-metadata-list", WRAPPED.replace("{name: gw, namespace: infra}", "[1]"), 1,
     "WrappedGateway: metadata must be a mapping, not list"),
    ("wrapped-metadata-string", WRAPPED.replace("{name: gw, namespace: infra}", "x"), 1,
     "WrappedGateway: metadata must be a mapping, not str"),
    ("route-metadata-list", route_with_metadata("[1]"), 1,
     "HTTPRoute: metadata must be a mapping, not list"),
    ("route-metadata-string", route_with_metadata('"x"'), 1,
     "HTTPRoute: metadata must be a mapping, not str"),
    ("namespace-metadata-list", "apiVersion: v1\nkind: Namespace\nmetadata: [1]\n", 1,
     "Namespace: metadata must be a mapping, not list"),
    ("unknown-kind-metadata-string", "apiVersion: v1\nkind: ConfigMap\nmetadata: x\n", 1,
     "ConfigMap: metadata must be a mapping, not str"),
    ("kindless-metadata-int", "metadata: 5\n", 1, "object: metadata must be a mapping, not int"),
    ("kind-list", "apiVersion: v1\nkind: [Namespace]\nmetadata: {name: a}\n", 1,
     "kind must be a string, not list"),
    ("route-name-list", route_with_metadata("{name: [1], namespace: infra}"), 1,
     "HTTPRoute: metadata.name must be a string, not list"),
    ("route-name-int", route_with_metadata("{name: 5, namespace: infra}"), 1,
     "HTTPRoute: metadata.name must be a string, not int"),
    ("route-namespace-mapping", route_with_metadata("{name: r, namespace: {a: b}}"), 1,
     "HTTPRoute: metadata.namespace must be a string, not dict"),
    ("route-without-name", route_with_metadata("{namespace: infra}"), 1,
     "HTTPRoute: metadata.name is required"),
    ("namespace-labels-list", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: [x]}\n",
     1, "Namespace a: metadata.labels must be a mapping, not list"),
    ("namespace-labels-string", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: x}\n",
     1, "Namespace a: metadata.labels must be a mapping, not str"),
    ("namespace-label-value-bool",
     "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {gw: yes}}\n", 1,
     "Namespace a: metadata.labels.gw must be a string, not bool"),
    ("list-items-string", "apiVersion: v1\nkind: List\nitems: abc\n", 1,
     "List.items must be a list of objects, not str"),
    ("list-items-mapping", "apiVersion: v1\nkind: List\nitems: {a: b}\n", 1,
     "List.items must be a list of objects, not dict"),
    ("list-items-int", "apiVersion: v1\nkind: List\nitems: 5\n", 1,
     "List.items must be a list of objects, not int"),
    ("list-item-string", "apiVersion: v1\nkind: List\nitems: [x]\n", 1,
     "item 1: expected a Kubernetes object, not str"),
    ("list-item-metadata-list",
     "apiVersion: v1\nkind: List\nitems: [{kind: ConfigMap, metadata: [1]}]\n", 1,
     "item 1: ConfigMap: metadata must be a mapping, not list"),
    ("selector-string", wrapped_with_selector("x"), 1,
     "spec.routes.namespaces.selector: a label selector must be a mapping, not str"),
    ("match-labels-list", wrapped_with_selector("{matchLabels: [a, b]}"), 1,
     "matchLabels must be a mapping, not list"),
    ("match-labels-value-int", wrapped_with_selector("{matchLabels: {gw: 1}}"), 1,
     "matchLabels.gw must be a string, not int"),
    ("match-expressions-string", wrapped_with_selector("{matchExpressions: x}"), 1,
     "matchExpressions must be a list, not str"),
    ("match-expressions-mapping", wrapped_with_selector("{matchExpressions: {key: a}}"), 1,
     "matchExpressions must be a list, not dict"),
    ("expression-values-string",
     wrapped_with_selector("{matchExpressions: [{key: a, operator: In, values: ab}]}"), 1,
     "matchExpressions[0].values must be a list of strings"),
    ("expression-values-int",
     wrapped_with_selector("{matchExpressions: [{key: a, operator: In, values: [1]}]}"), 1,
     "matchExpressions[0].values must be a list of strings"),
    ("expression-key-int",
     wrapped_with_selector("{matchExpressions: [{key: 1, operator: Exists}]}"), 1,
     "matchExpressions[0].key must be a string, not int"),
    ("expression-unknown-operator",
     wrapped_with_selector("{matchExpressions: [{key: a, operator: Near}]}"), 1,
     "matchExpressions[0]: operator 'Near' is not one of In, NotIn, Exists, DoesNotExist"),
    ("expression-operator-list",
     wrapped_with_selector("{matchExpressions: [{key: a, operator: [In]}]}"), 1,
     "matchExpressions[0]: operator of type list is not one of"),
    ("flow-nesting-100000", "[" * 100_000, 1,
     "not valid YAML at line 1, column 1001: exceeded maximum nesting depth"),
    ("block-nesting-100000", "- " * 100_000 + "x\n", 1, "exceeded maximum nesting depth"),
    ("nesting-150-in-a-spec", nested_spec(150), 1, "nested more than 100 levels deep"),
    ("alias-inside-its-own-anchor", wrapped_with_selector("&loop {matchLabels: *loop}"), 1,
     "nested more than 100 levels deep"),
    ("billion-laughs", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n"
     + LAUGHS + "\n", 1, "aliases expand the document from"),
    ("unhashable-key", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {[1]: 2}\n",
     1, "not valid YAML at line 4, column 8: found unhashable key"),
    ("set-tag", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: !!set {a: null}\n", 1,
     "the tag tag:yaml.org,2002:set is not read"),
    ("unknown-mapping-tag", route_with_metadata("!secret {name: r}"), 1,
     "the tag !secret is not read"),
    ("unknown-scalar-tag", route_with_metadata("{name: !secret r}"), 1,
     "could not determine a constructor for the tag '!secret'"),
    ("syntax-error-in-document-3", "kind: A\n---\nkind: B\n---\nkind: [Namespace\n", 3,
     "not valid YAML at line 6, column 1"),
    ("impossible-date", route_with_metadata("{name: r, annotations: {a: 2024-13-45}}"), 1,
     "not valid YAML at line 3, column 38: not a valid tag:yaml.org,2002:timestamp: month must"),
    ("int-tag-on-text", route_with_metadata("{name: r, generation: !!int abc}"), 1,
     "not a valid tag:yaml.org,2002:int: invalid literal for int()"),
    ("bool-tag-on-text", route_with_metadata("{name: r, x: !!bool maybe}"), 1,
     "not a valid tag:yaml.org,2002:bool"),
    ("timestamp-tag-on-text", route_with_metadata("{name: r, x: !!timestamp soon}"), 1,
     "not a valid tag:yaml.org,2002:timestamp"),
    ("document-not-a-mapping", "apiVersion: v1\n---\n- a\n", 2,
     "expected a Kubernetes object, not list"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "document", "problem"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_a_malformed_document_is_one_error_line_naming_the_file_and_document(
    text: str, document: int, problem: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "in.yaml"
    path.write_text(text)
    line = assert_one_error_line(*run(capsys, "-f", str(path)), f"{path} (document {document})")
    assert problem in line


def test_the_billion_laughs_never_reaches_the_json_printer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A WrappedGateway's spec is copied to the Gateway: JSON would write every alias out."""
    path = tmp_path / "in.yaml"
    path.write_text(
        wrapped_with_selector("{}") + "  infrastructure:\n" + textwrap.indent(LAUGHS, "  ") + "\n"
    )
    line = assert_one_error_line(
        *run(capsys, "-f", str(path), "-o", "json"), f"{path} (document 1)"
    )
    assert "aliases expand the document from" in line


def test_aliases_that_repeat_a_part_of_a_document_are_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "in.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            apiVersion: wrapped-gateway.dev/v1alpha1
            kind: WrappedGateway
            metadata: {name: gw, namespace: infra}
            spec:
              gatewayClassName: example
              listeners:
                - &http
                  name: http
                  port: 80
                  protocol: HTTP
                  allowedRoutes: &all {namespaces: {from: All}}
                - {<<: *http, name: http-alt, port: 8080, allowedRoutes: *all}
            """
        )
    )
    code, out, err = run(capsys, "-f", str(path), "-o", "json")
    assert code == 0, err
    assert "http-alt" in out


def test_a_name_with_a_line_break_stays_on_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    twice = route_obj(name="two\nlines", hostnames=["a.example.com"])
    write(tmp_path / "in.yaml", twice, twice)
    line = assert_one_error_line(
        *run(capsys, "-f", str(tmp_path / "in.yaml")), f"{tmp_path / 'in.yaml'} (document 2)"
    )
    assert "HTTPRoute infra/two\\nlines is also defined in" in line


def test_a_refusal_naming_a_route_with_a_line_break_stays_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    static = {"listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}
    write(tmp_path / "in.yaml", wrapped_obj(spec=static), route_obj("TCPRoute", name="two\nlines"))
    code, _, err = run(capsys, "-f", str(tmp_path / "in.yaml"))
    assert code == 0
    (line,) = err.splitlines()
    assert "TCPRoute infra/two\\nlines: MissingPorts" in line


# --------------------------------------------------------------------------------------------
# YAML through libyaml
# --------------------------------------------------------------------------------------------


def test_yaml_is_read_with_libyaml_when_it_is_installed() -> None:
    assert yaml.__with_libyaml__, "this environment should have PyYAML's libyaml extension"
    assert issubclass(manifests._LOADER, yaml.CSafeLoader)


def test_without_libyaml_deep_nesting_is_still_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pure-Python parser overflows Python's stack where libyaml stops at 1,000 levels."""
    monkeypatch.setattr(manifests, "_LOADER", yaml.SafeLoader)
    path = tmp_path / "in.yaml"
    path.write_text("[" * 100_000)
    line = assert_one_error_line(*run(capsys, "-f", str(path)), f"{path} (document 1)")
    assert "nested too deeply" in line


EVERY_YAML_FEATURE_MANIFESTS_USE = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: types
  creationTimestamp: 2024-01-02T03:04:05Z
data:
  int: 443
  octal: 0o17
  hex: 0x1F
  float: 1.5
  exponent: 1e3
  infinity: .inf
  bool: yes
  "off": off
  "null": ~
  empty:
  quoted: "443"
  single: 'true'
  date: 2024-01-02
  binary: !!binary aGVsbG8=
  explicit: !!str 443
  folded: >
    two
    lines
  literal: |
    kept
    lines
  defaults: &defaults {a: 1, b: 2, nested: &nested [x, {y: z}]}
  merged: {<<: *defaults, b: 3}
  shared: *nested
  "=": a quoted key
"""


def test_the_objects_read_are_those_pyyaml_builds(tmp_path: Path) -> None:
    path = tmp_path / "in.yaml"
    path.write_text(f"{EVERY_YAML_FEATURE_MANIFESTS_USE}---\n---\nkind: Second\n")
    first, second = read_documents([str(path)])
    assert first.obj == yaml.load(EVERY_YAML_FEATURE_MANIFESTS_USE, Loader=yaml.SafeLoader)
    data = first.obj["data"]
    assert data["merged"] == {"a": 1, "b": 3, "nested": ["x", {"y": "z"}]}
    assert data["shared"] is data["defaults"]["nested"], "an alias is the same object"
    assert (first.source, second.source) == (f"{path} (document 1)", f"{path} (document 3)")


def test_merging_a_list_of_mappings_lets_the_first_win_as_in_the_yaml_spec_and_kubectl(
    tmp_path: Path,
) -> None:
    """PyYAML 6.0.4 lets the last win unless the keys are one-character strings; kubectl's
    go-yaml follows the spec: the mapping's own keys, then the earliest merged mapping."""
    path = tmp_path / "in.yaml"
    path.write_text("merged: {<<: [{abc: first, c: 1}, {abc: second, d: 2}], d: own}\n")
    (document,) = read_documents([str(path)])
    assert document.obj["merged"] == {"abc": "first", "c": 1, "d": "own"}


# --------------------------------------------------------------------------------------------
# Fuzz: mutated manifests
# --------------------------------------------------------------------------------------------

BAD_VALUES: list[Any] = [
    None, "", "x", 0, 5, -1, 1.5, True, [], [1], ["a", [1]], {}, {"a": [1]}, {"key": "a"},
    [{"key": "a", "operator": "In", "values": "a"}], {"matchLabels": [1]}, 2**70,
]  # fmt: skip


def base_documents() -> list[dict[str, Any]]:
    policy = {
        "namespaces": {
            "from": "Selector",
            "selector": {
                "matchLabels": {"gw": "yes"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}],
            },
        },
        "hostnames": ["*.example.com"],
    }
    listeners = [{"name": "http", "port": 80, "protocol": "HTTP"}]
    return [
        wrapped_obj(spec={"routes": policy, "listeners": listeners}, labels={"team": "infra"}),
        route_obj(name="web", namespace="team-a", hostnames=["a.example.com"]),
        route_obj("TCPRoute", name="db", annotations={"wrapped-gateway.dev/ports": "5432"}),
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "team-a", "labels": {"gw": "yes", "tier": "a"}},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "x"}},
        {"apiVersion": "v1", "kind": "List", "items": [route_obj(name="listed")]},
    ]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in `value` another value can go."""
    children = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in children:
        yield (*prefix, key)
        if isinstance(child, dict | list) and child:
            yield from paths(child, (*prefix, key))


def mutated(documents: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """The documents with one to three values replaced by a wrong one, or removed."""
    documents = copy.deepcopy(documents)
    for _ in range(rng.randint(1, 3)):
        *parents, last = rng.choice(list(paths(documents)))
        container: Any = documents
        for key in parents:
            container = container[key]
        if isinstance(container, dict) and rng.random() < 0.2:
            del container[last]
        else:
            container[last] = copy.deepcopy(rng.choice(BAD_VALUES))
    return documents


def test_mutated_manifests_never_crash_and_every_error_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(2026)
    path = tmp_path / "in.yaml"
    outcomes = {0: 0, 1: 0}
    for _ in range(400):
        path.write_text(yaml.safe_dump_all(mutated(base_documents(), rng), sort_keys=False))
        code, out, err = run(capsys, "-f", str(path))
        outcomes[code] += 1
        if code == 1:
            assert_one_error_line(code, out, err, f"{path} (document ")
        else:
            assert all(isinstance(g, dict) for g in yaml.safe_load_all(out))
    assert min(outcomes.values()) > 50, f"both outcomes should be common: {outcomes}"


YAML_FRAGMENTS = [
    "[", "]", "{", "}", ":", ": ", ",", "- ", "? ", "|", ">", "'", '"', "#", "%", "@", "`",
    "\n", "\n  ", "\t", "---\n", "...\n", "&a ", "*a", "&b [*b]", "<<: ", "<<: *a", "~",
    "!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!binary ", "!!set ", "!!omap ", "!foo ",
    "2024-13-45", "0x", "0o9", "1e999", "1_0", "12:60:60", ".nan", "\x00", "\x85", "é", "\\u",
    "[" * 200, "{a: " * 120,
]  # fmt: skip


def corrupted(text: str, rng: random.Random) -> str:
    """The text with one to three edits: a YAML fragment put in, a span cut out."""
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(text) + 1)
        if rng.random() < 0.7:
            text = text[:at] + rng.choice(YAML_FRAGMENTS) + text[at:]
        else:
            text = text[:at] + text[at + rng.randint(1, 40) :]
    return text


def test_corrupted_yaml_text_never_crashes_and_every_error_is_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = random.Random(2026)
    path = tmp_path / "in.yaml"
    text = yaml.safe_dump_all(base_documents(), sort_keys=False)
    outcomes = {0: 0, 1: 0}
    for _ in range(400):
        path.write_text(corrupted(text, rng))
        code, out, err = run(capsys, "-f", str(path))
        outcomes[code] += 1
        if code == 1:
            assert_one_error_line(code, out, err, f"{path} (document ")
    assert min(outcomes.values()) > 50, f"both outcomes should be common: {outcomes}"
