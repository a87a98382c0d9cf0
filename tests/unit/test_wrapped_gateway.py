import pytest

from tests.unit.builders import wrapped_obj
from wrapped_gateway.wrapped import InvalidWrappedGateway, parse_wrapped_gateway
from wrapped_gateway.wrapped.selectors import parse_selector


def test_defaults_accept_routes_from_the_gateways_namespace_and_any_hostname() -> None:
    parsed = parse_wrapped_gateway(wrapped_obj())
    assert parsed.namespaces_from == "Same"
    assert parsed.allowed_hostnames is None
    assert parsed.static_listeners == ()


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"gatewayClassName": ""}, "spec.gatewayClassName is required"),
        ({"routes": []}, "spec.routes must be a mapping"),
        ({"routes": {"namespaces": {"from": "Everywhere"}}}, "expected one of Same, All, Selector"),
        ({"routes": {"namespaces": {"from": "Selector"}}}, "has no selector"),
        (
            {
                "routes": {
                    "namespaces": {
                        "from": "Selector",
                        "selector": {"matchExpressions": [{"key": "a", "operator": "Is"}]},
                    }
                }
            },
            "matchExpressions[0]: operator 'Is'",
        ),
        (
            {
                "routes": {
                    "namespaces": {
                        "from": "Selector",
                        "selector": {"matchExpressions": [{"key": "a", "operator": "In"}]},
                    }
                }
            },
            "needs at least one value",
        ),
        ({"routes": {"hostnames": "*.example.com"}}, "must be a list"),
        ({"routes": {"hostnames": ["ok.example.com", "10.0.0.1"]}}, "spec.routes.hostnames[1]"),
        (
            {"routes": {"hostnames": ["*.team-{namespace}.example.com"]}},
            "{namespace} must be a whole label",
        ),
        ({"routes": {"hostnames": ["{namespace}.10"]}}, "an IP address"),
        ({"routes": {"listenersPerNamespace": 0}}, "from 1 to 64, not 0"),
        ({"routes": {"ports": [443]}}, "spec.routes.ports must map protocols"),
        ({"routes": {"ports": {"HTTP": [80]}}}, "spec.routes.ports.HTTP: generated listeners"),
        ({"routes": {"ports": {"TCP": 5432}}}, "spec.routes.ports.TCP must be a list"),
        ({"routes": {"ports": {"TCP": [0]}}}, "spec.routes.ports.TCP[0]: 0 is not a port"),
        ({"routes": {"ports": {"TCP": ["6000-5000"]}}}, "'6000-5000' is not a port"),
        ({"routes": {"ports": {"TCP": ["1-70000"]}}}, "'1-70000' is not a port"),
        ({"routes": {"ports": {"UDP": [True]}}}, "True is not a port"),
        ({"routes": {"ports": {"UDP": ["53-"]}}}, "'53-' is not a port"),
        ({"routes": {"listenersPerNamespace": 65}}, "from 1 to 64, not 65"),
        ({"routes": {"listenersPerNamespace": True}}, "from 1 to 64, not True"),
        ({"routes": {"listenersPerNamespace": "8"}}, "from 1 to 64, not '8'"),
        ({"listeners": {"name": "x"}}, "spec.listeners must be a list"),
        (
            {"listeners": [{"name": "Web", "port": 80, "protocol": "HTTP"}]},
            "spec.listeners[0].name",
        ),
        ({"listeners": [{"name": "web", "port": 0, "protocol": "HTTP"}]}, "spec.listeners[0].port"),
        ({"listeners": [{"name": "web", "port": 80}]}, "spec.listeners[0].protocol is required"),
        (
            {"listeners": [{"name": "web", "port": 80, "protocol": "HTTP", "hostname": "*"}]},
            "spec.listeners[0].hostname",
        ),
        (
            {"listeners": [{"name": "web", "port": 80, "protocol": "HTTP"}] * 2},
            "spec.listeners[1]: the name 'web' is used twice",
        ),
        (
            {
                "listeners": [
                    {"name": "a", "port": 80, "protocol": "HTTP"},
                    {"name": "b", "port": 80, "protocol": "HTTP"},
                ]
            },
            "another listener already has port 80, protocol HTTP and hostname (none)",
        ),
        (
            {
                "listeners": [
                    {"name": f"l{i}", "port": 80 + i, "protocol": "HTTP"} for i in range(65)
                ]
            },
            "65 listeners",
        ),
    ],
)
def test_malformed_wrapped_gateways_are_rejected_with_the_field_named(
    spec: dict, fragment: str
) -> None:
    obj = wrapped_obj()
    obj["spec"].update(spec)
    with pytest.raises(InvalidWrappedGateway) as error:
        parse_wrapped_gateway(obj)
    assert fragment in str(error.value)


def test_missing_name_is_rejected() -> None:
    obj = wrapped_obj()
    del obj["metadata"]["name"]
    with pytest.raises(InvalidWrappedGateway, match=r"metadata\.name is required"):
        parse_wrapped_gateway(obj)


def test_spec_must_be_a_mapping() -> None:
    with pytest.raises(InvalidWrappedGateway, match="spec must be a mapping"):
        parse_wrapped_gateway({"metadata": {"name": "x"}, "spec": ["nope"]})


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        (None, {}, True),
        ({}, {"a": "1"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"}, True),
        ({"matchLabels": {"a": "1"}}, {"a": "2"}, False),
        (
            {"matchExpressions": [{"key": "a", "operator": "In", "values": ["1", "2"]}]},
            {"a": "2"},
            True,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {}, False),
        ({"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "a", "operator": "NotIn", "values": ["1"]}]},
            {"a": "1"},
            False,
        ),
        ({"matchExpressions": [{"key": "a", "operator": "Exists"}]}, {"a": ""}, True),
        ({"matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]}, {"a": ""}, False),
        (
            {"matchLabels": {"a": "1"}, "matchExpressions": [{"key": "b", "operator": "Exists"}]},
            {"a": "1"},
            False,
        ),
    ],
)
def test_label_selectors_follow_kubernetes_semantics(
    selector: dict | None, labels: dict, expected: bool
) -> None:
    assert parse_selector(selector).matches(labels) is expected
