"""A hostile tenant on a shared Gateway (issue #8): each test is one attack, and what stops it."""

import json
from collections import Counter
from typing import Any

import pytest

from tests.unit.builders import parent, route, route_obj, wrapped, wrapped_obj
from wrapped_gateway.constants import (
    MAX_COPIED_ANNOTATIONS_SIZE,
    MAX_LISTENER_HOSTNAMES_SIZE,
    MAX_LISTENERS,
)
from wrapped_gateway.hostnames import hostname_problem
from wrapped_gateway.listeners import DesiredGateway, desired_gateway
from wrapped_gateway.routes import Route, parse_route
from wrapped_gateway.wrapped import InvalidWrappedGateway, parse_wrapped_gateway
from wrapped_gateway.wrapped.static import is_listener_name

ALL = {"namespaces": {"from": "All"}}
OLD, NEW = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"


def shared(routes: list[Route], **spec: Any) -> DesiredGateway:
    return desired_gateway(wrapped(routes=ALL, **spec), routes, {})


def tenant(
    namespace: str,
    hostnames: list[str],
    *,
    created: str = OLD,
    kind: str = "HTTPRoute",
    name: str = "r",
    **kw: Any,
) -> Route:
    return route(kind, name, namespace, hostnames=hostnames, created=created, **kw)


def hostnames_of(result: DesiredGateway) -> dict[str, str]:
    """Listener hostname -> owner namespace."""
    return {g.key.hostname or g.name: g.owner_namespace for g in result.listeners}


def refused(result: DesiredGateway, namespace: str) -> list[tuple[str | None, str]]:
    return [(r.hostname, r.reason) for r in result.refusals if r.namespace == namespace]


OWN_SUBDOMAINS = {**ALL, "hostnames": ["*.{namespace}.example.com"]}


class TestEachTenantHeldToItsOwnNames:
    """Attack: first claim wins, so under an allow-list of `*.example.com` a tenant that
    claims `*.example.com` itself first takes every name below it from every other tenant,
    and a certificate for all of them. A `{namespace}` label holds each to its subdomain."""

    def test_the_squatter_without_the_placeholder_shuts_everyone_out(self) -> None:
        routes = [
            tenant("team-a", ["*.example.com"], created=OLD),
            tenant("team-b", ["b.example.com"], created=NEW),
        ]
        result = desired_gateway(
            wrapped(routes={**ALL, "hostnames": ["*.example.com"]}), routes, {}
        )
        assert hostnames_of(result) == {"*.example.com": "team-a"}
        assert refused(result, "team-b") == [("b.example.com", "HostnameConflict")]

    def test_with_the_placeholder_the_squatter_gets_nothing_and_others_keep_their_names(
        self,
    ) -> None:
        routes = [
            tenant("team-a", ["*.example.com", "*.team-a.example.com"], created=OLD),
            tenant("team-b", ["web.team-b.example.com", "x.team-a.example.com"], created=NEW),
        ]
        result = desired_gateway(wrapped(routes=OWN_SUBDOMAINS), routes, {})
        assert hostnames_of(result) == {
            "*.team-a.example.com": "team-a",
            "web.team-b.example.com": "team-b",
        }
        assert refused(result, "team-a") == [("*.example.com", "HostnameNotAllowed")]
        assert refused(result, "team-b") == [("x.team-a.example.com", "HostnameNotAllowed")]
        message = next(r.message for r in result.refusals if r.namespace == "team-b")
        assert "allows namespace 'team-b' (*.team-b.example.com)" in message

    def test_the_placeholder_is_a_whole_label_so_a_namespace_cannot_reach_another(
        self,
    ) -> None:
        # Namespace `a` must not get names of namespace `team-a` through a suffix match.
        routes = [tenant("a", ["x.team-a.example.com"])]
        result = desired_gateway(wrapped(routes=OWN_SUBDOMAINS), routes, {})
        assert refused(result, "a") == [("x.team-a.example.com", "HostnameNotAllowed")]


class TestNoTenantTakesEveryListener:
    """Attack: the first claims win and a Gateway holds 64 listeners, so a tenant whose routes
    are older asks for 64 hostnames and no other tenant ever gets a listener."""

    @staticmethod
    def routes(**kw: Any) -> list[Route]:
        hog = [
            tenant("hog", [f"h{i}.hog.example.com"], name=f"r{i}", created=OLD, **kw)
            for i in range(70)
        ]
        return [*hog, tenant("late", ["web.late.example.com"], created=NEW, **kw)]

    def test_without_a_quota_the_hog_takes_the_whole_gateway(self) -> None:
        result = shared(self.routes())
        assert len(result.listeners) == MAX_LISTENERS
        assert {g.owner_namespace for g in result.listeners} == {"hog"}
        assert refused(result, "late") == [("web.late.example.com", "TooManyListeners")]

    @pytest.mark.parametrize("output", ["Gateway", "ListenerSets"])
    def test_a_quota_per_namespace_leaves_room_for_the_others(self, output: str) -> None:
        through_set = [{"kind": "ListenerSet", "name": "gw"}]
        routes = self.routes(parents=through_set) if output == "ListenerSets" else self.routes()
        static = {"name": "http", "port": 80, "protocol": "HTTP"}
        spec: dict[str, Any] = {"output": output, "listeners": [static]}
        policy = {**ALL, "listenersPerNamespace": 8}
        result = desired_gateway(wrapped(routes=policy, **spec), routes, {})
        owners = Counter(g.owner_namespace for g in result.listeners)
        assert owners == {"hog": 8, "late": 1}
        hog_refusals = [r for r in result.refusals if r.namespace == "hog"]
        assert len(hog_refusals) == 62
        assert {r.reason for r in hog_refusals} == {"TooManyListeners"}
        assert "namespace 'hog' already holds 8 generated listeners" in hog_refusals[0].message
        assert "listenersPerNamespace" in hog_refusals[0].message

    def test_the_quota_keeps_the_oldest_listeners_of_the_namespace(self) -> None:
        policy = {**ALL, "listenersPerNamespace": 2}
        routes = [
            tenant("team", ["new.example.com"], name="new", created=NEW),
            tenant("team", ["old.example.com", "also.example.com"], name="old", created=OLD),
        ]
        result = desired_gateway(wrapped(routes=policy), routes, {})
        assert set(hostnames_of(result)) == {"old.example.com", "also.example.com"}
        assert refused(result, "team") == [("new.example.com", "TooManyListeners")]


class TestNoTenantTakesTheSharedPorts:
    """Attack: a TCP listener takes its whole port, and the first claim wins, so an old TCPRoute
    on 443 leaves every tenant without HTTPS. `spec.routes.ports` keeps each protocol to its
    ports."""

    @staticmethod
    def routes() -> list[Route]:
        squat = tenant(
            "evil", [], kind="TCPRoute", name="squat", created=OLD, parents=[parent(port=443)]
        )
        return [squat, tenant("good", ["app.example.com"], created=NEW)]

    def test_without_a_port_policy_the_squatter_takes_443_from_everyone(self) -> None:
        result = shared(self.routes())
        assert [g.owner_namespace for g in result.listeners] == ["evil"]
        assert refused(result, "good") == [("app.example.com", "PortConflict")]

    def test_a_port_policy_keeps_tcp_off_the_https_port(self) -> None:
        policy = {**ALL, "ports": {"TCP": ["5000-5999"], "HTTPS": [443]}}
        result = desired_gateway(wrapped(routes=policy), self.routes(), {})
        assert hostnames_of(result) == {"app.example.com": "good"}
        (refusal,) = [r for r in result.refusals if r.namespace == "evil"]
        assert (refusal.reason, refusal.ports) == ("PortNotAllowed", (443,))
        assert "allows TCP listeners on 5000-5999 only" in refusal.message

    def test_a_flood_of_ports_outside_the_policy_is_one_refusal(self) -> None:
        ports = ",".join(str(p) for p in [*range(1, 62), 443, 8443, 8444])  # 64, the most read
        greedy = tenant(
            "evil",
            ["a.example.com"],
            annotations={"wrapped-gateway.dev/ports": ports},
        )
        policy = {**ALL, "ports": {"HTTPS": [443, "8443-8444"]}}
        result = desired_gateway(wrapped(routes=policy), [greedy], {})
        assert {g.key.port for g in result.listeners} == {443, 8443, 8444}
        (refusal,) = [r for r in result.refusals if r.reason == "PortNotAllowed"]
        assert len(refusal.ports) == 61
        assert "ports 1, 2, 3, 4, 5 and 56 more" in refusal.message


class TestMoreSpecificHostnamesAreTheft:
    def test_newer_exact_name_under_an_older_wildcard_of_another_namespace_is_refused(
        self,
    ) -> None:
        result = shared(
            [
                tenant("team-a", ["*.example.com"], created=OLD),
                tenant("team-b", ["app.example.com"], created=NEW),
            ]
        )
        assert hostnames_of(result) == {"*.example.com": "team-a"}
        assert refused(result, "team-b") == [("app.example.com", "HostnameConflict")]
        assert "*.example.com" in result.refusals[0].message
        assert "team-a" in result.refusals[0].message

    def test_newer_nested_wildcard_under_an_older_wildcard_is_refused(self) -> None:
        result = shared(
            [
                tenant("team-a", ["*.example.com"], created=OLD),
                tenant("team-b", ["*.app.example.com"], created=NEW),
            ]
        )
        assert hostnames_of(result) == {"*.example.com": "team-a"}
        assert refused(result, "team-b") == [("*.app.example.com", "HostnameConflict")]

    def test_newer_wildcard_over_an_older_exact_name_of_another_namespace_is_refused(
        self,
    ) -> None:
        # Without Listener Isolation the wildcard's routes would share app.example.com's traffic,
        # and its certificate would be valid for app.example.com.
        result = shared(
            [
                tenant("team-b", ["app.example.com"], created=OLD),
                tenant("team-a", ["*.example.com"], created=NEW),
            ]
        )
        assert hostnames_of(result) == {"app.example.com": "team-b"}
        assert refused(result, "team-a") == [("*.example.com", "HostnameConflict")]

    def test_one_namespace_may_hold_a_wildcard_and_names_under_it(self) -> None:
        result = shared(
            [
                tenant("team-a", ["*.example.com"], created=OLD, name="wild"),
                tenant("team-a", ["app.example.com"], created=NEW, name="app"),
            ]
        )
        assert hostnames_of(result) == {"*.example.com": "team-a", "app.example.com": "team-a"}
        assert result.refusals == ()

    def test_unrelated_names_and_the_apex_do_not_overlap_a_wildcard(self) -> None:
        result = shared(
            [
                tenant("team-a", ["*.example.com"], created=OLD),
                tenant("team-b", ["example.com", "app.example.org"], created=NEW),
            ]
        )
        assert hostnames_of(result) == {
            "*.example.com": "team-a",
            "example.com": "team-b",
            "app.example.org": "team-b",
        }

    def test_passthrough_listener_under_another_namespaces_wildcard_is_refused(self) -> None:
        passthrough = tenant(
            "team-b",
            ["db.example.com"],
            created=NEW,
            kind="TLSRoute",
            annotations={"wrapped-gateway.dev/tls-mode": "Passthrough"},
        )
        result = shared([tenant("team-a", ["*.example.com"], created=OLD), passthrough])
        assert refused(result, "team-b") == [("db.example.com", "HostnameConflict")]

    def test_a_name_under_a_static_wildcard_is_the_platform_namespaces(self) -> None:
        static = {
            "name": "wild",
            "port": 443,
            "protocol": "HTTPS",
            "hostname": "*.example.com",
            "tls": {"certificateRefs": [{"name": "wildcard-cert"}]},
            "allowedRoutes": {"namespaces": {"from": "All"}},
        }
        result = desired_gateway(
            wrapped(routes=ALL, listeners=[static]),
            [tenant("team-b", ["app.example.com"]), tenant("infra", ["own.example.com"])],
            {},
        )
        assert hostnames_of(result) == {"own.example.com": "infra"}
        assert refused(result, "team-b") == [("app.example.com", "HostnameConflict")]
        assert "static listener 'wild'" in result.refusals[0].message


class TestHostnameOwnershipIsPerGatewayNotPerPort:
    def test_another_namespace_gets_no_certificate_for_the_name_on_another_port(self) -> None:
        result = shared(
            [
                tenant("team-a", ["app.example.com"], created=OLD),
                tenant("team-b", ["app.example.com"], created=NEW, parents=[parent(port=8443)]),
            ]
        )
        assert [(g.key.port, g.owner_namespace) for g in result.listeners] == [(443, "team-a")]
        assert refused(result, "team-b") == [("app.example.com", "HostnameConflict")]

    def test_a_tls_route_cannot_take_an_https_routes_name_on_another_port(self) -> None:
        result = shared(
            [
                tenant("team-a", ["app.example.com"], created=OLD),
                tenant(
                    "team-b",
                    ["app.example.com"],
                    created=NEW,
                    kind="TLSRoute",
                    name="t",
                    parents=[parent(port=6443)],
                ),
            ]
        )
        assert refused(result, "team-b") == [("app.example.com", "HostnameConflict")]

    def test_a_tcp_routes_hostname_is_owned_like_a_listeners(self) -> None:
        tcp = route(
            "TCPRoute",
            "db",
            "team-b",
            created=NEW,
            annotations={
                "wrapped-gateway.dev/ports": "5432",
                "wrapped-gateway.dev/hostname": "app.example.com",
            },
        )
        result = shared([tenant("team-a", ["*.example.com"], created=OLD), tcp])
        assert refused(result, "team-b") == [("app.example.com", "HostnameConflict")]
        assert [g.name for g in result.listeners] == ["wildcard-https-443-example.com"]

    def test_the_owner_may_use_its_name_on_every_port(self) -> None:
        result = shared(
            [
                tenant("team-a", ["app.example.com"], name="a", created=OLD),
                tenant(
                    "team-a",
                    ["app.example.com"],
                    name="b",
                    created=NEW,
                    parents=[parent(port=8443)],
                ),
            ]
        )
        assert {g.key.port for g in result.listeners} == {443, 8443}
        assert result.refusals == ()


class TestListenerNamesAreAlwaysUnique:
    def test_a_sectionname_squatting_a_generated_name_and_its_fallback_cannot_duplicate_it(
        self,
    ) -> None:
        # Old routes take, as sectionNames, the generated name of c.example.com's listener and
        # the first fallback the book would pick for it.
        probe = shared(
            [
                tenant(
                    "team-a",
                    ["a.example.com"],
                    parents=[parent(sectionName="https-443-c.example.com")],
                ),
                tenant("team-b", ["c.example.com"], name="c", created=NEW),
            ]
        )
        fallback = next(g.name for g in probe.listeners if g.key.hostname == "c.example.com")
        assert fallback != "https-443-c.example.com"
        result = shared(
            [
                tenant(
                    "team-a",
                    ["a.example.com"],
                    name="a",
                    parents=[parent(sectionName="https-443-c.example.com")],
                ),
                tenant(
                    "team-a", ["b.example.com"], name="b", parents=[parent(sectionName=fallback)]
                ),
                tenant("team-b", ["c.example.com"], name="c", created=NEW),
            ]
        )
        names = [listener["name"] for listener in result.gateway["spec"]["listeners"]]  # type: ignore[index]
        assert len(names) == len(set(names)) == 3


class TestAnnotationsStayBounded:
    def test_many_long_tcp_hostnames_cannot_push_the_gateway_past_the_metadata_limit(self) -> None:
        label = "a" * 60
        routes = [
            route(
                "TCPRoute",
                f"db{i}",
                "team-a",
                annotations={
                    "wrapped-gateway.dev/ports": "5432",
                    "wrapped-gateway.dev/hostname": f"{label}.{label}.{label}.h{i}.example.com",
                },
            )
            for i in range(2000)
        ]
        result = shared(routes)
        annotation = result.gateway["metadata"]["annotations"][
            "wrapped-gateway.dev/listener-hostnames"
        ]  # type: ignore[index]
        assert len(annotation.encode()) <= MAX_LISTENER_HOSTNAMES_SIZE
        shown = json.loads(annotation)["tcp-5432"]
        hidden = [r for r in result.refusals if r.reason == "TooManyHostnames"]
        assert len(shown) + len(hidden) == 2000
        assert len(shown) > 100
        # the oldest routes keep theirs; every route is still attached
        assert all(r.hostname not in shown for r in hidden)
        assert len(result.listeners[0].routes) == 2000

    def test_annotations_copied_from_the_wrapped_gateway_leave_room_for_the_hostnames(
        self,
    ) -> None:
        """Otherwise every apply of the Gateway would fail: an invalid spec, said once."""
        fits = {"team.example.com/notes": "x" * (MAX_COPIED_ANNOTATIONS_SIZE - 22)}
        parse_wrapped_gateway(wrapped_obj(annotations=fits))
        too_big = {"team.example.com/notes": "x" * (MAX_COPIED_ANNOTATIONS_SIZE - 21)}
        with pytest.raises(InvalidWrappedGateway, match="copied to the Gateway take 225,281"):
            parse_wrapped_gateway(wrapped_obj(annotations=too_big))
        # kubectl's own copy of the object is not copied, so it does not count
        applied = {"kubectl.kubernetes.io/last-applied-configuration": "x" * 250_000}
        parse_wrapped_gateway(wrapped_obj(annotations=applied))


class TestStaticListenersFollowTheGatewayRules:
    @pytest.mark.parametrize(
        ("listener", "fragment"),
        [
            (
                {"name": "db", "port": 5432, "protocol": "TCP", "hostname": "db.example.com"},
                "hostname must not be set for protocol TCP",
            ),
            (
                {"name": "dns", "port": 53, "protocol": "UDP", "hostname": "dns.example.com"},
                "hostname must not be set for protocol UDP",
            ),
            (
                {
                    "name": "web",
                    "port": 80,
                    "protocol": "HTTP",
                    "tls": {"certificateRefs": [{"name": "x"}]},
                },
                "tls must not be set for protocol HTTP",
            ),
            (
                {"name": "db", "port": 5432, "protocol": "TCP", "tls": {"mode": "Passthrough"}},
                "tls must not be set for protocol TCP",
            ),
            (
                {"name": "t", "port": 443, "protocol": "TLS", "hostname": "t.example.com"},
                "tls with a mode is required for protocol TLS",
            ),
            (
                {"name": "s", "port": 443, "protocol": "HTTPS", "tls": {"mode": "Passthrough"}},
                "tls.mode must be Terminate for protocol HTTPS",
            ),
            (
                {"name": "s", "port": 443, "protocol": "HTTPS", "tls": {}},
                "certificateRefs or options must be specified",
            ),
            (
                {"name": "s", "port": 443, "protocol": "TLS", "tls": {"mode": "Bogus"}},
                "tls.mode 'Bogus' is not one of",
            ),
            ({"name": "s", "port": 443, "protocol": "HTTP/2"}, "is not a protocol name"),
            (
                {
                    "name": "s",
                    "port": 80,
                    "protocol": "HTTP",
                    "allowedRoutes": {"namespaces": {"from": "Everyone"}},
                },
                "allowedRoutes.namespaces.from 'Everyone'",
            ),
            ({"name": "s\n", "port": 80, "protocol": "HTTP"}, "not a valid listener name"),
            (
                {"name": "s", "port": 443, "protocol": "HTTPS", "tls": {"certificateRefs": [{}]}},
                "tls.certificateRefs[0].name is required",
            ),
            (
                {
                    "name": "s",
                    "port": 443,
                    "protocol": "HTTPS",
                    "tls": {"certificateRefs": [{"name": "s", "kind": "Secret "}]},
                },
                "tls.certificateRefs[0].kind 'Secret ' is not a Kubernetes kind",
            ),
            (
                {"name": "s", "port": 443, "protocol": "HTTPS", "tls": {"options": {"a": 1}}},
                "tls.options: 'a' must map a string to a string",
            ),
            (
                {"name": "s", "port": 80, "protocol": "HTTP", "allowedRoutes": {"kinds": [1]}},
                "allowedRoutes.kinds[0] must be a mapping",
            ),
            (
                {
                    "name": "s",
                    "port": 80,
                    "protocol": "HTTP",
                    "allowedRoutes": {"kinds": [{"group": "Gateway.Networking", "kind": "X"}]},
                },
                "allowedRoutes.kinds[0].group 'Gateway.Networking' is not an API group",
            ),
        ],
    )
    def test_a_listener_the_api_server_would_reject_is_an_invalid_spec(
        self, listener: dict[str, Any], fragment: str
    ) -> None:
        with pytest.raises(InvalidWrappedGateway, match=r"spec\.listeners\[0\]") as raised:
            wrapped(listeners=[listener])
        assert fragment in str(raised.value)

    def test_valid_static_listeners_are_accepted(self) -> None:
        listeners = [
            {"name": "http", "port": 80, "protocol": "HTTP"},
            {
                "name": "k",
                "port": 6443,
                "protocol": "TLS",
                "hostname": "k.example.com",
                "tls": {"mode": "Passthrough"},
            },
            {
                "name": "s",
                "port": 443,
                "protocol": "HTTPS",
                "hostname": "s.example.com",
                "tls": {"certificateRefs": [{"name": "s", "kind": "Secret", "group": ""}]},
                "allowedRoutes": {"kinds": [{"kind": "HTTPRoute"}]},
            },
            {
                "name": "o",
                "port": 8443,
                "protocol": "HTTPS",
                "tls": {"options": {"example.com/cert": "from-elsewhere"}},
            },
            {"name": "db", "port": 5432, "protocol": "TCP"},
            {"name": "custom", "port": 9000, "protocol": "example.com/proto"},
        ]
        assert len(wrapped(listeners=listeners).static_listeners) == 6


class TestNoRouteCanStopTheController:
    def test_a_ports_annotation_of_thousands_of_digits_is_refused_not_raised(self) -> None:
        r = route(annotations={"wrapped-gateway.dev/ports": "9" * 5000})
        ((reason, message),) = [(d.reason, d.message) for d in r.defects]
        assert reason == "InvalidPorts"
        assert len(message) < 300

    def test_a_ports_annotation_of_more_ports_than_a_gateway_has_listeners_is_refused(
        self,
    ) -> None:
        """Every port times sixteen hostnames would be a million keys, refusals and Events on
        every reconcile of the shared Gateway; a route never holds more than 64 listeners."""
        ports = ",".join(str(p) for p in range(1, 65536))
        names = [f"h{i}.example.com" for i in range(16)]
        greedy = tenant("team-b", names, annotations={"wrapped-gateway.dev/ports": ports})
        ((reason, message),) = [(d.reason, d.message) for d in greedy.defects]
        assert reason == "InvalidPorts"
        assert "lists 65535 ports; a route has at most 64 listeners" in message
        result = shared([greedy])
        assert result.listeners == ()
        assert [r.reason for r in result.refusals] == ["InvalidPorts"]

    def test_sixty_four_ports_times_sixteen_hostnames_is_one_refusal_per_hostname(self) -> None:
        ports = ",".join(str(p) for p in range(1000, 1064))
        names = [f"h{i}.example.com" for i in range(16)]
        greedy = tenant("team-b", names, annotations={"wrapped-gateway.dev/ports": ports})
        result = shared([greedy])
        assert len(result.listeners) == MAX_LISTENERS
        capped = [r for r in result.refusals if r.reason == "TooManyListeners"]
        # one line per (reason, hostname), each naming what was dropped
        assert sorted(r.hostname for r in capped) == sorted(names)
        assert all(len(r.message) < 400 for r in capped)
        # keys run port by port: 1000-1003 for each hostname fill the 64
        first = next(r for r in capped if r.hostname == "h0.example.com")
        assert first.port == 1004
        assert "h0.example.com on ports 1004, 1005, 1006, 1007, 1008 and 55 more" in first.message

    def test_a_conflict_on_every_port_is_one_refusal_per_hostname(self) -> None:
        ports = ",".join(str(p) for p in range(1000, 1064))
        owner = tenant(
            "team-a", ["app.example.com"], annotations={"wrapped-gateway.dev/ports": ports}
        )
        thief = tenant(
            "team-b",
            ["app.example.com"],
            created=NEW,
            annotations={"wrapped-gateway.dev/ports": ports},
        )
        result = shared([owner, thief])
        assert refused(result, "team-b") == [("app.example.com", "HostnameConflict")]
        assert "and 58 more" in result.refusals[0].message

    def test_a_route_that_reaches_the_limit_names_the_hostname_and_port_dropped(self) -> None:
        many = [tenant("team-a", [f"h{i}.example.com"], name=f"r{i}") for i in range(MAX_LISTENERS)]
        late = tenant("team-b", ["late.example.com"], created=NEW)
        result = shared([*many, late])
        (refusal,) = refused(result, "team-b")
        assert refusal == ("late.example.com", "TooManyListeners")
        assert "443/HTTPS late.example.com" in result.refusals[-1].message


class TestPrecedence:
    def test_equal_timestamps_order_by_the_namespace_slash_name_string(self) -> None:
        # "team-b/x" < "team/x" because "-" sorts before "/"; a (namespace, name) tuple says
        # the opposite.
        result = shared(
            [
                tenant("team", ["app.example.com"], name="x"),
                tenant("team-b", ["app.example.com"], name="x"),
            ]
        )
        assert hostnames_of(result) == {"app.example.com": "team-b"}
        assert refused(result, "team") == [("app.example.com", "HostnameConflict")]


class TestHostnameValidation:
    @pytest.mark.parametrize(
        "hostname",
        [
            "app.example.com\n",
            "2130706433",
            "0x7f.0.0.1",
            "01.02.03.04",
            "1.2.3",
            "app.0x7f",
            "*.1.2.3",
            f"{'a' * 64}.example.com",
        ],
    )
    def test_names_browsers_read_as_addresses_and_overlong_labels_are_refused(
        self, hostname: str
    ) -> None:
        assert hostname_problem(hostname) is not None

    def test_a_63_character_label_is_fine(self) -> None:
        assert hostname_problem(f"{'a' * 63}.example.com") is None

    def test_a_listener_name_with_a_trailing_newline_is_refused(self) -> None:
        assert not is_listener_name("web\n")


class TestMalformedRouteFieldsAreDefects:
    """Only files given to `render` can hold these; the API server refuses them."""

    def test_annotations_that_are_not_a_mapping_are_reported_not_ignored(self) -> None:
        obj = route_obj("TCPRoute", annotations={"x": "y"})
        obj["metadata"]["annotations"] = ["wrapped-gateway.dev/ports=5432"]
        r = parse_route(obj)
        assert [(d.reason, d.message) for d in r.defects] == [
            (
                "InvalidMetadata",
                "metadata.annotations must be a mapping, not ['wrapped-gateway.dev/ports=5432']",
            )
        ]

    def test_labels_that_are_not_a_mapping_are_reported(self) -> None:
        obj = route_obj(hostnames=["a.example.com"])
        obj["metadata"]["labels"] = "oops"
        assert [d.reason for d in parse_route(obj).defects] == ["InvalidMetadata"]

    @pytest.mark.parametrize("field", ["group", "kind"])
    def test_a_parent_ref_group_or_kind_that_is_not_a_string_is_a_defect(self, field: str) -> None:
        obj = route_obj(hostnames=["a.example.com"])
        obj["spec"]["parentRefs"][0][field] = ["Gateway"]
        r = parse_route(obj)
        assert r.parents == ()
        assert [d.reason for d in r.defects] == ["InvalidParentRef"]


class TestExternalDnsHostnames:
    @pytest.mark.parametrize(
        "annotation",
        ["external-dns.alpha.kubernetes.io/hostname", "external-dns.kubernetes.io/hostname"],
    )
    def test_both_prefixes_and_comma_lists_are_read(self, annotation: str) -> None:
        tcp = route(
            "TCPRoute",
            annotations={
                "wrapped-gateway.dev/ports": "5432",
                annotation: "db.example.com, db2.example.com",
            },
        )
        assert tcp.hostnames == ("db.example.com", "db2.example.com")
        result = shared([tcp])
        annotations = result.gateway["metadata"]["annotations"]  # type: ignore[index]
        assert json.loads(annotations["wrapped-gateway.dev/listener-hostnames"]) == {
            "tcp-5432": ["db.example.com", "db2.example.com"]
        }

    def test_every_hostname_annotation_present_is_read_and_empty_items_are_skipped(
        self,
    ) -> None:
        tcp = route(
            "TCPRoute",
            annotations={
                "wrapped-gateway.dev/ports": "5432",
                "external-dns.kubernetes.io/hostname": "db.example.com",
                "external-dns.alpha.kubernetes.io/hostname": "db2.example.com,, db.example.com,",
            },
        )
        assert tcp.hostnames == ("db.example.com", "db2.example.com")
        assert tcp.defects == ()

    def test_another_namespaces_hostname_in_a_second_annotation_is_refused(self) -> None:
        """external-dns publishes the annotation of its own prefix: a name slipped into the other
        one is owned and checked like the rest, not ignored."""
        owner = tenant("team-a", ["victim.example.com"])
        thief = route(
            "TCPRoute",
            namespace="team-b",
            created=NEW,
            annotations={
                "wrapped-gateway.dev/ports": "5432",
                "external-dns.kubernetes.io/hostname": "db.example.com",
                "external-dns.alpha.kubernetes.io/hostname": "victim.example.com",
            },
        )
        result = shared([owner, thief])
        assert refused(result, "team-b") == [("victim.example.com", "HostnameConflict")]

    def test_each_hostname_of_a_comma_list_is_checked(self) -> None:
        tcp = route(
            "TCPRoute",
            annotations={
                "wrapped-gateway.dev/ports": "5432",
                "external-dns.kubernetes.io/hostname": "db.example.com,10.0.0.1",
            },
        )
        result = shared([tcp])
        assert [(r.hostname, r.reason) for r in result.refusals] == [
            ("10.0.0.1", "InvalidHostname")
        ]
        assert result.gateway is None


def test_no_route_object_can_raise_out_of_parsing() -> None:
    weird: list[Any] = [None, 1, "x", [], {}, [1], {"a": 1}, True, 1.5, "9" * 5000]
    for value in weird:
        for field in (
            "metadata",
            "spec",
            "parentRefs",
            "hostnames",
            "annotations",
            "name",
            "creationTimestamp",
            "labels",
            "port",
            "sectionName",
            "namespace",
            "group",
            "kind",
        ):
            obj: dict[str, Any] = {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "TCPRoute",
                "metadata": {"name": "r", "namespace": "team", "annotations": {}},
                "spec": {"parentRefs": [{"name": "gw", "namespace": "infra"}]},
            }
            if field in ("metadata", "spec"):
                obj[field] = value
            elif field in ("parentRefs", "hostnames"):
                obj["spec"][field] = value
            elif field in ("port", "sectionName", "namespace", "group", "kind"):
                obj["spec"]["parentRefs"][0][field] = value
            else:
                obj["metadata"][field] = value
            parse_route(obj)  # must not raise
