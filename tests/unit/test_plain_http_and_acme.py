"""Plain HTTP and ACME HTTP-01 are owned per hostname: no catch-all listener, no borrowed names.

The attack these rules answer: on a shared Gateway with a catch-all HTTP listener admitting
every namespace (the classic setup for ACME HTTP-01), tenant B creates its own ACME Issuer and a
Certificate for tenant A's name; cert-manager's solver route in B's namespace attaches to the
catch-all listener, the ACME server's validation reaches it, and B holds a valid certificate
for A's name. Here plain-HTTP listeners are generated per hostname and admit only the name's
owner (and, in Gateway mode, the platform's namespace for the gateway shim's certificates).
"""

from typing import Any

from tests.unit.builders import listeners_of, parent, route, wrapped
from wrapped_gateway.constants import ACME_SOLVER_LABEL, NAMESPACE_NAME_LABEL, Reason
from wrapped_gateway.listeners import DesiredGateway, desired_gateway
from wrapped_gateway.routes import Route
from wrapped_gateway.wrapped.static import shared_catch_all_listeners

ALL = {"namespaces": {"from": "All"}}
OLD, NEW, NEWER = "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"
SOLVER = {ACME_SOLVER_LABEL: "true"}
A_NAME, B_NAME = "app.team-a.example.com", "app.team-b.example.com"


def solver(namespace: str, hostname: str, created: str = NEWER, **kw: Any) -> Route:
    """cert-manager's solver route for a challenge in `namespace` (no sectionName, no port)."""
    return route(
        "HTTPRoute",
        f"cm-acme-{hostname}",
        namespace,
        hostnames=[hostname],
        labels=SOLVER,
        created=created,
        **kw,
    )


def app(namespace: str, hostname: str, created: str = OLD, name: str = "web", **kw: Any) -> Route:
    return route("HTTPRoute", name, namespace, hostnames=[hostname], created=created, **kw)


def shared(routes: list[Route], **spec: Any) -> DesiredGateway:
    return desired_gateway(wrapped(routes={**ALL, **spec}), routes, {})


def admitted(listener: dict[str, Any]) -> set[str] | str:
    """The namespaces a generated listener admits ("Same": the Gateway's own)."""
    namespaces = listener["allowedRoutes"]["namespaces"]
    if namespaces["from"] == "Same":
        return "Same"
    selector = namespaces["selector"]
    if "matchLabels" in selector:
        return {selector["matchLabels"][NAMESPACE_NAME_LABEL]}
    (expression,) = selector["matchExpressions"]
    assert expression["key"] == NAMESPACE_NAME_LABEL
    assert expression["operator"] == "In"
    return set(expression["values"])


def reasons(result: DesiredGateway, namespace: str) -> list[tuple[str | None, str]]:
    return [(r.hostname, r.reason) for r in result.refusals if r.namespace == namespace]


class TestATenantCannotAnswerAnotherTenantsChallenge:
    def test_a_solver_route_for_another_namespaces_name_is_refused_and_admitted_nowhere(
        self,
    ) -> None:
        result = shared([app("team-a", A_NAME), solver("team-b", A_NAME)])
        assert reasons(result, "team-b") == [(A_NAME, Reason.HOSTNAME_CONFLICT)]
        listeners = listeners_of(result.gateway)
        # no listener the intruder's route could attach to: A's admit only A
        assert set(listeners) == {f"https-443-{A_NAME}"}
        assert all(admitted(listener) == {"team-a"} for listener in listeners.values())

    def test_nor_once_the_owner_has_a_plain_http_listener(self) -> None:
        redirect = app("team-a", A_NAME, name="redirect", parents=[parent(port=80)])
        result = shared([app("team-a", A_NAME), redirect, solver("team-b", A_NAME)])
        listeners = listeners_of(result.gateway)
        assert admitted(listeners[f"http-80-{A_NAME}"]) == {"team-a"}
        assert reasons(result, "team-b") == [(A_NAME, Reason.HOSTNAME_CONFLICT)]

    def test_a_plain_http_route_for_another_namespaces_name_is_refused(self) -> None:
        intruder = app("team-b", A_NAME, created=NEW, parents=[parent(port=80)])
        result = shared([app("team-a", A_NAME), intruder])
        assert reasons(result, "team-b") == [(A_NAME, Reason.HOSTNAME_CONFLICT)]
        assert f"http-80-{A_NAME}" not in listeners_of(result.gateway)

    def test_a_name_outside_the_tenants_allowed_names_is_refused_to_its_solver(self) -> None:
        result = shared([solver("team-b", A_NAME)], hostnames=["*.{namespace}.example.com"])
        assert reasons(result, "team-b") == [(A_NAME, Reason.HOSTNAME_NOT_ALLOWED)]
        assert result.gateway is None

    def test_a_solver_route_of_a_namespace_the_policy_refuses_gets_nothing(self) -> None:
        result = desired_gateway(wrapped(), [solver("team-b", B_NAME)], {})
        assert reasons(result, "team-b") == [(None, Reason.NOT_ALLOWED_NAMESPACE)]


class TestTheOwnerAnswersItsOwnChallenges:
    def test_a_tenants_own_certificate_gets_a_plain_http_listener_only_it_may_use(self) -> None:
        result = shared([app("team-a", A_NAME), solver("team-a", A_NAME)])
        listener = listeners_of(result.gateway)[f"http-80-{A_NAME}"]
        assert listener["protocol"] == "HTTP"
        assert listener["port"] == 80
        assert listener["hostname"] == A_NAME
        assert "tls" not in listener
        assert admitted(listener) == {"team-a"}
        assert listener["allowedRoutes"]["kinds"] == [
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}
        ]
        assert not result.refusals

    def test_a_solver_route_asks_for_no_https_listener(self) -> None:
        result = shared([solver("team-a", A_NAME)])
        assert set(listeners_of(result.gateway)) == {f"http-80-{A_NAME}"}

    def test_the_listener_goes_with_the_challenge(self) -> None:
        result = shared([app("team-a", A_NAME)])
        assert set(listeners_of(result.gateway)) == {f"https-443-{A_NAME}"}

    def test_on_the_configured_http_port(self) -> None:
        result = shared([solver("team-a", A_NAME)], httpPort=8080)
        assert set(listeners_of(result.gateway)) == {f"http-8080-{A_NAME}"}

    def test_a_solver_route_naming_another_port_is_refused(self) -> None:
        result = shared([solver("team-a", A_NAME, parents=[parent(port=443)])])
        assert reasons(result, "team-a") == [(None, Reason.PORT_NOT_ALLOWED)]
        assert result.gateway is None


class TestThePlatformAnswersTheGatewayShimsChallenges:
    """In Gateway mode cert-manager keeps every generated listener's certificate in the
    Gateway's namespace, so its solver routes live there, for the tenants' names."""

    def test_the_owners_plain_http_listener_admits_the_platform_besides(self) -> None:
        result = shared([app("team-a", A_NAME), solver("infra", A_NAME)])
        listener = listeners_of(result.gateway)[f"http-80-{A_NAME}"]
        assert admitted(listener) == {"infra", "team-a"}
        assert not result.refusals
        (generated,) = [g for g in result.listeners if g.name == f"http-80-{A_NAME}"]
        assert generated.owner_namespace == "team-a"  # still the owner's to redirect

    def test_the_owner_keeps_its_listener_for_a_redirect(self) -> None:
        redirect = app("team-a", A_NAME, name="redirect", created=NEWER, parents=[parent(port=80)])
        platform = solver("infra", A_NAME, created=NEW)
        result = shared([app("team-a", A_NAME), platform, redirect])
        assert not result.refusals
        listener = listeners_of(result.gateway)[f"http-80-{A_NAME}"]
        assert admitted(listener) == {"infra", "team-a"}

    def test_without_a_challenge_the_owners_listener_admits_only_the_owner(self) -> None:
        redirect = app("team-a", A_NAME, name="redirect", parents=[parent(port=80)])
        result = shared([app("team-a", A_NAME), redirect])
        assert admitted(listeners_of(result.gateway)[f"http-80-{A_NAME}"]) == {"team-a"}

    def test_the_platform_claims_an_unowned_name_like_any_route(self) -> None:
        result = shared([solver("infra", "www.example.com")])
        assert admitted(listeners_of(result.gateway)["http-80-www.example.com"]) == "Same"

    def test_the_platform_may_answer_whatever_the_namespace_policy(self) -> None:
        policy = {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"t": "y"}}}}
        tenant_route = app("team-a", A_NAME)
        result = desired_gateway(
            wrapped(routes=policy), [tenant_route, solver("infra", A_NAME)], {"team-a": {"t": "y"}}
        )
        assert not result.refusals
        assert admitted(listeners_of(result.gateway)[f"http-80-{A_NAME}"]) == {"infra", "team-a"}

    def test_in_listener_sets_mode_the_platform_answers_only_for_its_own_names(self) -> None:
        static = [{"name": "http", "port": 80, "protocol": "HTTP"}]
        model = wrapped(routes=ALL, listeners=static, output="ListenerSets")
        ref = [{"kind": "ListenerSet", "name": "gw"}]
        routes = [
            app("team-a", A_NAME, parents=ref),
            route(
                "HTTPRoute",
                "cm",
                "infra",
                hostnames=[A_NAME],
                labels=SOLVER,
                created=NEWER,
                parents=ref,
            ),
        ]
        result = desired_gateway(model, routes, {})
        assert reasons(result, "infra") == [(A_NAME, Reason.HOSTNAME_CONFLICT)]


class TestListenerSetsMode:
    def test_a_tenants_solver_route_gets_a_plain_http_listener_in_its_listener_set(self) -> None:
        static = [{"name": "http", "port": 80, "protocol": "HTTP"}]
        model = wrapped(routes=ALL, listeners=static, output="ListenerSets")
        ref = [{"kind": "ListenerSet", "name": "gw"}]
        result = desired_gateway(
            model, [app("team-a", A_NAME, parents=ref), solver("team-a", A_NAME, parents=ref)], {}
        )
        assert not result.refusals
        (listener_set,) = result.listener_sets
        by_name = {item["name"]: item for item in listener_set["spec"]["listeners"]}
        assert admitted(by_name[f"http-80-{A_NAME}"]) == "Same"
        assert listener_set["metadata"]["namespace"] == "team-a"


class TestPlainHttpForRedirects:
    def test_a_route_asking_for_the_http_port_gets_plain_http_not_https(self) -> None:
        redirect = app("team-a", A_NAME, parents=[parent(port=80)])
        result = shared([redirect])
        listener = listeners_of(result.gateway)[f"http-80-{A_NAME}"]
        assert listener["protocol"] == "HTTP"
        assert "tls" not in listener

    def test_the_ports_annotation_may_ask_for_both(self) -> None:
        both = app("team-a", A_NAME, annotations={"wrapped-gateway.dev/ports": "80,443"})
        result = shared([both])
        assert set(listeners_of(result.gateway)) == {f"http-80-{A_NAME}", f"https-443-{A_NAME}"}

    def test_the_port_policy_does_not_govern_the_http_port(self) -> None:
        redirect = app("team-a", A_NAME, parents=[parent(port=80)])
        result = shared([redirect], ports={"HTTPS": [443]})
        assert f"http-80-{A_NAME}" in listeners_of(result.gateway)

    def test_a_tls_route_on_the_http_port_stays_tls_and_conflicts_with_plain_http(self) -> None:
        redirect = app("team-a", A_NAME, parents=[parent(port=80)])
        tls = route(
            "TLSRoute",
            "t",
            "team-a",
            hostnames=["t.team-a.example.com"],
            created=NEW,
            parents=[parent(port=80)],
        )
        result = shared([redirect, tls])
        assert reasons(result, "team-a") == [("t.team-a.example.com", Reason.PORT_CONFLICT)]


class TestSharedCatchAllStaticListeners:
    def test_a_hostnameless_listener_admitting_every_namespace_is_named(self) -> None:
        static = [{"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": ALL}]
        (warning,) = shared_catch_all_listeners(wrapped(listeners=static).static_listeners)
        assert "'http'" in warning
        assert "All" in warning

    def test_selector_counts_as_shared(self) -> None:
        selector = {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"a": "b"}}}}
        static = [
            {
                "name": "web",
                "port": 443,
                "protocol": "HTTPS",
                "allowedRoutes": selector,
                "tls": {"certificateRefs": [{"name": "c"}]},
            }
        ]
        assert len(shared_catch_all_listeners(wrapped(listeners=static).static_listeners)) == 1

    def test_a_tls_one_puts_the_names_traffic_at_stake_not_their_certificates(self) -> None:
        """Kamaji's forced `konnectivity-server` listener (docs/kamaji.md): still named, as
        any admitted namespace can serve every name on its port, but ACME HTTP-01 (plain HTTP
        only; an HTTPRoute cannot attach to a TLS listener) is not what it exposes."""
        selector = {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"a": "b"}}}}
        static = [
            {
                "name": "konnectivity-server",
                "port": 8132,
                "protocol": "TLS",
                "tls": {"mode": "Passthrough"},
                "allowedRoutes": selector,
            }
        ]
        (warning,) = shared_catch_all_listeners(wrapped(listeners=static).static_listeners)
        assert "'konnectivity-server' (8132/TLS)" in warning
        assert "every name on port 8132, other tenants' included" in warning
        assert "ACME" not in warning

    def test_a_passthrough_one_on_443_hands_over_tls_alpn_challenges(self) -> None:
        static = [
            {
                "name": "tls",
                "port": 443,
                "protocol": "TLS",
                "tls": {"mode": "Passthrough"},
                "allowedRoutes": ALL,
            }
        ]
        (warning,) = shared_catch_all_listeners(wrapped(listeners=static).static_listeners)
        assert "every name on port 443, other tenants' included, and answer their ACME " in warning
        assert "TLS-ALPN-01" in warning

    def test_same_a_hostname_or_tcp_is_not(self) -> None:
        static = [
            {"name": "http", "port": 80, "protocol": "HTTP"},
            {
                "name": "www",
                "port": 8080,
                "protocol": "HTTP",
                "hostname": "www.example.com",
                "allowedRoutes": ALL,
            },
            {"name": "db", "port": 5432, "protocol": "TCP", "allowedRoutes": ALL},
        ]
        assert shared_catch_all_listeners(wrapped(listeners=static).static_listeners) == ()
