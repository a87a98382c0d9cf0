"""`wrapped-gateway render`: files in, Gateways on stdout, refusals on stderr."""

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.unit.builders import parent, route_obj, wrapped_obj
from wrapped_gateway.cli import main

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, *objects: object) -> Path:
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["render", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_bundled_examples_render_a_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "-f", str(REPO / "examples"))
    assert code == 0
    (gateway,) = list(yaml.safe_load_all(out))
    assert gateway["kind"] == "Gateway"
    names = [listener["name"] for listener in gateway["spec"]["listeners"]]
    assert names[0] == "http-80-app.example.com"  # the redirect's: no catch-all listener
    assert "https-443-app.example.com" in names
    assert "warning" not in err
    assert "HostnameNotAllowed" in err
    assert "team-a/stray" in err


def test_output_is_byte_identical_whatever_the_document_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    objects = [
        wrapped_obj("one", spec={"routes": {"namespaces": {"from": "All"}}}),
        wrapped_obj("two"),
        *(
            route_obj(
                "HTTPRoute",
                f"r{i}",
                namespace=f"ns{i % 3}",
                hostnames=[f"h{i % 5}.example.com"],
                parents=[parent("one" if i % 2 else "two")],
                created=f"2026-01-0{1 + i % 3}T00:00:00Z",
            )
            for i in range(20)
        ),
    ]
    outputs = set()
    for seed in range(5):
        shuffled = list(objects)
        random.Random(seed).shuffle(shuffled)
        write(tmp_path / "in.yaml", *shuffled)
        outputs.add(run(capsys, "-f", str(tmp_path / "in.yaml"))[1:])
    assert len(outputs) == 1


def test_gateways_are_ordered_by_namespace_and_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path / "in.yaml",
        wrapped_obj("b", "x"),
        wrapped_obj("a", "y"),
        wrapped_obj("a", "x"),
        *(
            route_obj(
                name=f"r-{ns}-{n}",
                namespace=ns,
                parents=[parent(n, ns)],
                hostnames=["a.example.com"],
            )
            for ns, n in (("x", "a"), ("x", "b"), ("y", "a"))
        ),
    )
    code, out, _ = run(capsys, "-f", str(tmp_path / "in.yaml"))
    assert code == 0
    keys = [(g["metadata"]["namespace"], g["metadata"]["name"]) for g in yaml.safe_load_all(out)]
    assert keys == [("x", "a"), ("x", "b"), ("y", "a")]


def test_directories_are_read_recursively_and_json_is_a_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "deep" / "er").mkdir(parents=True)
    write(tmp_path / "gw.yml", wrapped_obj(namespace="infra"))
    write(tmp_path / "deep" / "er" / "routes.yaml", route_obj(hostnames=["a.example.com"]))
    (tmp_path / "notes.txt").write_text("not: [yaml")
    code, out, _ = run(capsys, "-f", str(tmp_path), "-o", "json")
    assert code == 0
    listing = json.loads(out)
    assert listing["kind"] == "List"
    (gateway,) = listing["items"]
    assert gateway["spec"]["listeners"][0]["hostname"] == "a.example.com"


def test_several_files_and_stdin_combine(tmp_path: Path) -> None:
    write(tmp_path / "gw.yaml", wrapped_obj())
    routes = yaml.safe_dump(route_obj(hostnames=["a.example.com"]))
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "wrapped_gateway",
            "render",
            "-f",
            str(tmp_path / "gw.yaml"),
            "-f",
            "-",
        ],
        input=routes,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "https-443-a.example.com" in result.stdout


def test_the_command_writes_everything_before_it_exits(tmp_path: Path) -> None:
    # The command ends its process without Python's teardown: what it printed must be out.
    hostnames = [f"h{i}.example.com" for i in range(100)]
    routes = [route_obj(name=f"r{i}", hostnames=[h]) for i, h in enumerate(hostnames)]
    write(tmp_path / "in.yaml", wrapped_obj(), *routes)
    command = [sys.executable, "-m", "wrapped_gateway", "render", "-f", str(tmp_path / "in.yaml")]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    (gateway,) = yaml.safe_load_all(result.stdout)
    assert len(gateway["spec"]["listeners"]) == 64
    assert len(result.stderr.splitlines()) == 36  # r64 to r99: TooManyListeners
    assert result.stderr.splitlines()[-1].startswith("WrappedGateway infra/gw: HTTPRoute infra/r99")


def test_the_command_exits_non_zero_on_bad_input(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("kind: [")
    command = [sys.executable, "-m", "wrapped_gateway", "render", "-f", str(tmp_path / "bad.yaml")]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"wrapped-gateway render: error: {tmp_path / 'bad.yaml'}")


def test_namespaces_in_the_input_feed_selector_policies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = {
        "routes": {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"gw": "yes"}}}}
    }
    write(
        tmp_path / "in.yaml",
        wrapped_obj(spec=policy),
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "team-a", "labels": {"gw": "yes"}},
        },
        route_obj(name="a", namespace="team-a", hostnames=["a.example.com"]),
        route_obj(name="b", namespace="team-b", hostnames=["b.example.com"]),
    )
    code, out, err = run(capsys, "-f", str(tmp_path / "in.yaml"))
    assert code == 0
    (gateway,) = yaml.safe_load_all(out)
    assert [listener["hostname"] for listener in gateway["spec"]["listeners"]] == ["a.example.com"]
    assert "HTTPRoute team-b/b: NotAllowedNamespace" in err


def test_each_refusal_is_one_line_naming_the_route_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path / "in.yaml",
        wrapped_obj(),
        route_obj(name="ok", hostnames=["a.example.com"]),
        route_obj("TCPRoute", name="db"),
        route_obj(name="ip", hostnames=["10.0.0.1", "b.example.com"]),
    )
    code, _, err = run(capsys, "-f", str(tmp_path / "in.yaml"))
    assert code == 0
    assert err.splitlines() == [
        "WrappedGateway infra/gw: TCPRoute infra/db: MissingPorts: a TCPRoute needs a port: "
        "set parentRef.port or the wrapped-gateway.dev/ports annotation",
        "WrappedGateway infra/gw: HTTPRoute infra/ip: InvalidHostname: '10.0.0.1' is an IP "
        "address; a listener hostname must be a DNS name",
    ]


def test_other_kinds_are_skipped_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        tmp_path / "in.yaml",
        wrapped_obj(),
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "infra"}},
        route_obj(hostnames=["a.example.com"], parents=[parent("elsewhere")]),
    )
    code, _, err = run(capsys, "-f", str(tmp_path / "in.yaml"))
    assert code == 0
    assert "document 2): skipped v1 ConfigMap infra/cm" in err
    assert "HTTPRoute infra/r targets no WrappedGateway in the input" in err
    assert "infra/gw: NoListeners" in err


def test_invalid_yaml_exits_non_zero_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: [unclosed\n")
    code, out, err = run(capsys, "-f", str(bad))
    assert code == 1
    assert out == ""
    assert str(bad) in err
    assert "line" in err
    assert "Traceback" not in err


def test_malformed_wrapped_gateway_exits_non_zero_naming_file_and_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = wrapped_obj(spec={"routes": {"namespaces": {"from": "Anywhere"}}})
    write(tmp_path / "in.yaml", route_obj(), broken)
    code, out, err = run(capsys, "-f", str(tmp_path / "in.yaml"))
    assert code == 1
    assert out == ""
    assert f"{tmp_path / 'in.yaml'} (document 2): WrappedGateway infra/gw: " in err
    assert "spec.routes.namespaces.from is 'Anywhere'" in err


def test_an_object_defined_twice_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path / "a.yaml", wrapped_obj())
    write(tmp_path / "b.yaml", wrapped_obj())
    code, _, err = run(capsys, "-f", str(tmp_path))
    assert code == 1
    assert "also defined in" in err


def test_a_missing_path_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "-f", str(tmp_path / "absent.yaml"))
    assert code == 1
    assert "absent.yaml: no such file or directory" in err


def test_a_document_that_is_not_an_object_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    code, _, err = run(capsys, "-f", str(tmp_path / "list.yaml"))
    assert code == 1
    assert "(document 1): expected a Kubernetes object, not list" in err


def test_kubectl_lists_are_unpacked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(
        tmp_path / "in.yaml",
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [wrapped_obj(), route_obj(hostnames=["a.example.com"])],
        },
    )
    code, out, _ = run(capsys, "-f", str(tmp_path / "in.yaml"))
    assert code == 0
    assert "https-443-a.example.com" in out


def test_listener_sets_mode_prints_each_gateway_followed_by_its_listener_sets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = {
        "output": "ListenerSets",
        "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}],
        "routes": {"namespaces": {"from": "All"}},
    }
    through_set = {"kind": "ListenerSet", "name": "shared"}
    path = write(
        tmp_path / "in.yaml",
        wrapped_obj("shared", spec=spec),
        route_obj("HTTPRoute", "b", "team-b", hostnames=["b.example.com"], parents=[through_set]),
        route_obj("HTTPRoute", "a", "team-a", hostnames=["a.example.com"], parents=[through_set]),
        # a ListenerSet named like a WrappedGateway in Gateway mode reaches nothing
        route_obj(
            "HTTPRoute",
            "x",
            "team-a",
            hostnames=["x.example.com"],
            parents=[{"kind": "ListenerSet", "name": "elsewhere"}],
        ),
    )
    code, out, err = run(capsys, "-f", str(path))
    assert code == 0
    documents = list(yaml.safe_load_all(out))
    assert [(d["kind"], d["metadata"]["namespace"]) for d in documents] == [
        ("Gateway", "infra"),
        ("ListenerSet", "team-a"),
        ("ListenerSet", "team-b"),
    ]
    assert documents[1]["spec"]["listeners"][0]["hostname"] == "a.example.com"
    assert err.splitlines() == ["note: HTTPRoute team-a/x targets no WrappedGateway in the input"]


def test_refusals_go_to_stderr_in_claim_order_oldest_route_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Not by name: the oldest route claims first, and its refusal comes first.
    routes = [
        route_obj(name=name, hostnames=["10.0.0.1"], created=created)
        for name, created in (
            ("a-newest", "2026-03-01T00:00:00Z"),
            ("z-oldest", "2026-01-01T00:00:00Z"),
            ("m-middle", "2026-02-01T00:00:00Z"),
        )
    ]
    write(
        tmp_path / "in.yaml",
        wrapped_obj(),
        route_obj(name="ok", hostnames=["ok.example.com"]),
        *reversed(routes),
    )
    code, _, err = run(capsys, "-f", str(tmp_path / "in.yaml"))
    assert code == 0
    assert [line.split()[3].rstrip(":") for line in err.splitlines()] == [
        "infra/z-oldest",
        "infra/m-middle",
        "infra/a-newest",
    ]


def test_a_shared_catch_all_static_listener_is_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catch_all = {
        "name": "http",
        "port": 80,
        "protocol": "HTTP",
        "allowedRoutes": {"namespaces": {"from": "All"}},
    }
    write(tmp_path / "in.yaml", wrapped_obj(spec={"listeners": [catch_all]}))
    code, out, err = run(capsys, "-f", str(tmp_path / "in.yaml"))
    assert code == 0  # rendered all the same
    assert out
    (line,) = [line for line in err.splitlines() if line.startswith("warning:")]
    assert line.startswith("warning: WrappedGateway infra/gw: static listener 'http' (80/HTTP)")
    assert "ACME HTTP-01" in line
