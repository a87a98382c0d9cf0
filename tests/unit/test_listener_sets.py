"""ListenerSets mode (issue #11): the generated listeners go into one ListenerSet per namespace."""

from typing import Any

import pytest

from tests.unit.builders import parent, route, wrapped, wrapped_obj
from wrapped_gateway.constants import MAX_LISTENERS, OWNER_UID_LABEL
from wrapped_gateway.listeners import DesiredGateway, desired_gateway
from wrapped_gateway.routes import Route
from wrapped_gateway.wrapped import InvalidWrappedGateway, parse_wrapped_gateway

HTTP = {"name": "http", "port": 80, "protocol": "HTTP"}
ALL = {"namespaces": {"from": "All"}}
OLD, NEW = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"


def to_set(name: str = "gw", namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    return parent(name, namespace=namespace, kind="ListenerSet", **extra)


def tenant(
    namespace: str, hostnames: list[str], *, name: str = "r", created: str = OLD, **kw: Any
) -> Route:
    kw.setdefault("parents", [to_set()])
    return route(
        kw.pop("kind", "HTTPRoute"), name, namespace, hostnames=hostnames, created=created, **kw
    )


def shared(routes: list[Route], uid: str | None = None, **spec: Any) -> DesiredGateway:
    body = {"output": "ListenerSets", "listeners": [HTTP], "routes": ALL, **spec}
    model = parse_wrapped_gateway(wrapped_obj("gw", "infra", body, **({"uid": uid} if uid else {})))
    return desired_gateway(model, routes, {})


def sets_by_namespace(result: DesiredGateway) -> dict[str, dict[str, Any]]:
    return {s["metadata"]["namespace"]: s for s in result.listener_sets}


def hostnames_in(listener_set: dict[str, Any]) -> list[str]:
    return [listener.get("hostname") for listener in listener_set["spec"]["listeners"]]


def reasons(result: DesiredGateway) -> list[tuple[str, str | None, str]]:
    return [(r.namespace, r.hostname, r.reason) for r in result.refusals]


class TestOutput:
    def test_the_gateway_keeps_its_static_listeners_and_admits_exactly_the_tenant_namespaces(
        self,
    ) -> None:
        result = shared([tenant("team-b", ["b.example.com"]), tenant("team-a", ["a.example.com"])])
        assert result.gateway is not None
        assert result.gateway["spec"]["listeners"] == [HTTP]
        assert result.gateway["spec"]["allowedListeners"] == {
            "namespaces": {
                "from": "Selector",
                "selector": {
                    "matchExpressions": [
                        {
                            "key": "kubernetes.io/metadata.name",
                            "operator": "In",
                            "values": ["team-a", "team-b"],
                        }
                    ]
                },
            }
        }
        assert result.refusals == ()
        assert result.listener_count == 3

    def test_one_listener_set_per_namespace_named_like_the_gateway_with_local_secrets(
        self,
    ) -> None:
        result = shared(
            [
                tenant("team-a", ["a.example.com", "*.a.example.com"]),
                tenant("team-b", ["b.example.com"]),
            ]
        )
        sets = sets_by_namespace(result)
        assert sorted(sets) == ["team-a", "team-b"]
        team_a = sets["team-a"]
        assert team_a["apiVersion"] == "gateway.networking.k8s.io/v1"
        assert team_a["kind"] == "ListenerSet"
        assert team_a["metadata"]["name"] == "gw"
        assert team_a["spec"]["parentRef"] == {
            "group": "gateway.networking.k8s.io",
            "kind": "Gateway",
            "name": "gw",
            "namespace": "infra",
        }
        assert sorted(hostnames_in(team_a)) == ["*.a.example.com", "a.example.com"]
        for listener in team_a["spec"]["listeners"]:
            (ref,) = listener["tls"]["certificateRefs"]
            assert "namespace" not in ref  # the Secret lives beside the ListenerSet
            assert listener["allowedRoutes"]["namespaces"] == {"from": "Same"}

    def test_listener_sets_carry_the_owner_uid_and_an_owner_reference_only_at_home(self) -> None:
        result = shared(
            [tenant("team-a", ["a.example.com"]), tenant("infra", ["i.example.com"])], uid="u-1"
        )
        sets = sets_by_namespace(result)
        for listener_set in sets.values():
            assert listener_set["metadata"]["labels"] == {OWNER_UID_LABEL: "u-1"}
            assert (
                listener_set["metadata"]["annotations"]["wrapped-gateway.dev/owner"] == "infra/gw"
            )
        # owner references cannot cross namespaces; elsewhere the controller deletes by label
        assert "ownerReferences" not in sets["team-a"]["metadata"]
        assert sets["infra"]["metadata"]["ownerReferences"][0]["uid"] == "u-1"

    def test_without_routes_the_gateway_admits_no_listener_set(self) -> None:
        result = shared([])
        assert result.listener_sets == ()
        assert result.gateway is not None
        assert result.gateway["spec"]["allowedListeners"] == {"namespaces": {"from": "None"}}

    def test_tcp_route_hostnames_are_shown_on_the_tenants_listener_set(self) -> None:
        tcp = tenant(
            "team-a",
            [],
            kind="TCPRoute",
            annotations={
                "wrapped-gateway.dev/ports": "5432",
                "wrapped-gateway.dev/hostname": "db.example.com",
            },
        )
        (listener_set,) = shared([tcp]).listener_sets
        assert listener_set["metadata"]["annotations"][
            "wrapped-gateway.dev/listener-hostnames"
        ] == ('{"tcp-5432":["db.example.com"]}')


class TestBeyondSixtyFourListeners:
    def test_150_routes_over_3_namespaces_all_get_listeners(self) -> None:
        routes = [
            tenant(f"team-{t}", [f"app-{i}.{t}.example.com"], name=f"r{i}")
            for t in "abc"
            for i in range(50)
        ]
        result = shared(routes)
        assert result.refusals == ()
        assert [len(s["spec"]["listeners"]) for s in result.listener_sets] == [50, 50, 50]

    def test_the_65th_listener_of_one_namespace_is_refused_naming_its_listener_set(self) -> None:
        routes = [
            tenant("team-a", [f"app-{i:02}.example.com"], name=f"r{i:02}")
            for i in range(MAX_LISTENERS + 1)
        ]
        result = shared([*routes, tenant("team-b", ["b.example.com"])])
        assert reasons(result) == [("team-a", "app-64.example.com", "TooManyListeners")]
        assert "ListenerSet of namespace 'team-a'" in result.refusals[0].message
        assert [len(s["spec"]["listeners"]) for s in result.listener_sets] == [64, 1]


class TestAttachment:
    def test_a_route_through_the_gateway_only_is_told_to_refer_to_the_listener_set(self) -> None:
        result = shared([tenant("team-a", ["a.example.com"], parents=[parent()])])
        assert result.listener_sets == ()
        assert reasons(result) == [("team-a", None, "NeedsListenerSetRef")]
        assert "kind: ListenerSet, name: gw" in result.refusals[0].message

    def test_a_route_on_a_static_listener_through_the_gateway_is_not_refused(self) -> None:
        solver_like = tenant("infra", ["a.example.com"], parents=[parent(sectionName="http")])
        assert shared([solver_like]).refusals == ()

    def test_a_listener_set_of_another_namespace_is_refused(self) -> None:
        result = shared([tenant("team-a", ["a.example.com"], parents=[to_set(namespace="team-b")])])
        assert result.listener_sets == ()
        assert reasons(result) == [("team-a", None, "CrossNamespaceListenerSet")]

    def test_a_parent_ref_given_twice_is_refused_once(self) -> None:
        twice = [to_set(namespace="team-b"), to_set(namespace="team-b")]
        result = shared([tenant("team-a", ["a.example.com"], parents=twice)])
        assert reasons(result) == [("team-a", None, "CrossNamespaceListenerSet")]

    def test_gateway_mode_ignores_parent_refs_to_listener_sets(self) -> None:
        result = desired_gateway(wrapped(routes=ALL), [tenant("team-a", ["a.example.com"])], {})
        assert result.listeners == ()
        assert result.refusals == ()

    def test_section_names_are_per_listener_set(self) -> None:
        result = shared(
            [
                tenant("team-a", ["a.example.com"], parents=[to_set(sectionName="web")]),
                tenant("team-b", ["b.example.com"], parents=[to_set(sectionName="web")]),
            ]
        )
        assert result.refusals == ()
        names = {
            ns: [listener["name"] for listener in s["spec"]["listeners"]]
            for ns, s in sets_by_namespace(result).items()
        }
        assert names == {"team-a": ["web"], "team-b": ["web"]}

    def test_a_section_name_may_equal_a_generated_name_in_another_listener_set(self) -> None:
        section = "https-443-a.example.com"  # the name team-a's listener is generated with
        result = shared(
            [
                tenant("infra", ["b.example.com"], parents=[to_set(sectionName=section)]),
                tenant("team-a", ["a.example.com"]),
            ]
        )
        assert result.refusals == ()
        hostnames = {
            ns: {(item["name"], item["hostname"]) for item in s["spec"]["listeners"]}
            for ns, s in sets_by_namespace(result).items()
        }
        assert hostnames == {
            "infra": {(section, "b.example.com")},
            "team-a": {(section, "a.example.com")},
        }


class TestTenancyAcrossListenerSets:
    def test_a_newer_namespace_cannot_take_a_name_under_an_older_wildcard(self) -> None:
        result = shared(
            [
                tenant("team-a", ["*.example.com"], created=OLD),
                tenant("team-b", ["app.example.com"], created=NEW),
            ]
        )
        assert list(sets_by_namespace(result)) == ["team-a"]
        assert reasons(result) == [("team-b", "app.example.com", "HostnameConflict")]

    def test_a_static_listener_hostname_belongs_to_the_platform(self) -> None:
        static = {**HTTP, "name": "web", "hostname": "www.example.com"}
        result = shared([tenant("team-a", ["www.example.com"])], listeners=[static])
        assert reasons(result) == [("team-a", "www.example.com", "HostnameConflict")]

    def test_the_platform_namespace_is_told_its_static_listener_already_serves_a_key(
        self,
    ) -> None:
        static = {
            "name": "web",
            "port": 443,
            "protocol": "HTTPS",
            "hostname": "www.example.com",
            "tls": {"certificateRefs": [{"name": "www"}]},
        }
        result = shared([tenant("infra", ["www.example.com"])], listeners=[static])
        assert reasons(result) == [("infra", "www.example.com", "ServedByStaticListener")]

    def test_ports_conflict_across_listener_sets_as_on_one_gateway(self) -> None:
        tcp = tenant(
            "team-a", [], kind="TCPRoute", annotations={"wrapped-gateway.dev/ports": "8443"}
        )
        https = tenant("team-b", ["b.example.com"], created=NEW, parents=[to_set(port=8443)])
        result = shared([tcp, https])
        assert reasons(result) == [("team-b", "b.example.com", "PortConflict")]


class TestSpec:
    @pytest.mark.parametrize(
        ("spec", "problem"),
        [
            ({"output": "Listeners", "listeners": [HTTP]}, "spec.output is 'Listeners'"),
            ({"output": "ListenerSets"}, "needs at least one static listener"),
            (
                {"output": "ListenerSets", "listeners": [HTTP], "allowedListeners": {}},
                "spec.allowedListeners is written by the controller",
            ),
        ],
    )
    def test_invalid_specs_are_named(self, spec: dict[str, Any], problem: str) -> None:
        with pytest.raises(InvalidWrappedGateway, match=problem):
            parse_wrapped_gateway(wrapped_obj(spec=spec))

    def test_gateway_mode_copies_allowed_listeners_verbatim(self) -> None:
        allowed = {"namespaces": {"from": "Same"}}
        result = desired_gateway(wrapped(listeners=[HTTP], allowedListeners=allowed), [], {})
        assert result.gateway is not None
        assert result.gateway["spec"]["allowedListeners"] == allowed
        assert "output" not in result.gateway["spec"]


def test_a_namespace_whose_listener_set_someone_else_holds_gets_nothing_and_is_not_admitted() -> (
    None
):
    model = parse_wrapped_gateway(
        wrapped_obj("gw", "infra", {"output": "ListenerSets", "listeners": [HTTP], "routes": ALL})
    )
    routes = [tenant("team-a", ["a.example.com"]), tenant("team-b", ["b.example.com"])]
    result = desired_gateway(
        model,
        routes,
        {},
        {"team-a": "ListenerSet team-a/gw exists and was not written by wrapped-gateway"},
    )
    assert list(sets_by_namespace(result)) == ["team-b"]
    assert reasons(result) == [("team-a", None, "ListenerSetNotOwned")]
    assert "ListenerSet team-a/gw exists and was not written" in result.refusals[0].message
    assert result.gateway is not None
    selector = result.gateway["spec"]["allowedListeners"]["namespaces"]["selector"]
    assert selector["matchExpressions"][0]["values"] == ["team-b"]
