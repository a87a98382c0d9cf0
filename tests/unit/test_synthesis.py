"""The listener rules of issue #2, one behaviour per test."""

import random

import pytest

from tests.unit.builders import listeners_of, parent, route, route_obj, wrapped, wrapped_obj
from wrapped_gateway.listeners import desired_gateway
from wrapped_gateway.routes import Route, parse_route
from wrapped_gateway.wrapped import parse_wrapped_gateway

NO_NAMESPACES: dict[str, dict[str, str]] = {}
ALL = {"namespaces": {"from": "All"}}


def render(routes: list[Route], gateway=None, namespaces=NO_NAMESPACES):  # type: ignore[no-untyped-def]
    return desired_gateway(gateway or wrapped(), routes, namespaces)


def reasons(result) -> list[tuple[str, str | None, str]]:  # type: ignore[no-untyped-def]
    return [(r.name, r.hostname, r.reason) for r in result.refusals]


class TestOneListenerPerHostnamePortProtocol:
    def test_http_route_gets_an_https_listener_per_hostname_on_443(self) -> None:
        result = render([route(hostnames=["a.example.com", "b.example.com"])])
        listeners = listeners_of(result.gateway)
        assert set(listeners) == {"https-443-a.example.com", "https-443-b.example.com"}
        assert listeners["https-443-a.example.com"] == {
            "name": "https-443-a.example.com",
            "port": 443,
            "protocol": "HTTPS",
            "hostname": "a.example.com",
            "tls": {
                "mode": "Terminate",
                "certificateRefs": [
                    {"group": "", "kind": "Secret", "name": "tls-443-a.example.com"}
                ],
            },
            "allowedRoutes": {
                "namespaces": {"from": "Same"},
                "kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
            },
        }
        assert result.refusals == ()

    def test_grpc_and_http_routes_of_one_namespace_share_a_listener(self) -> None:
        result = render([route("HTTPRoute", "web"), route("GRPCRoute", "api")])
        (listener,) = listeners_of(result.gateway).values()
        assert [k["kind"] for k in listener["allowedRoutes"]["kinds"]] == ["GRPCRoute", "HTTPRoute"]

    def test_tls_route_terminates_by_default(self) -> None:
        (listener,) = listeners_of(render([route("TLSRoute")]).gateway).values()
        assert listener["protocol"] == "TLS"
        assert listener["tls"]["mode"] == "Terminate"
        assert listener["tls"]["certificateRefs"][0]["name"] == "tls-443-app.example.com"

    def test_tls_passthrough_route_gets_no_certificate(self) -> None:
        passthrough = route("TLSRoute", annotations={"wrapped-gateway.dev/tls-mode": "Passthrough"})
        (listener,) = listeners_of(render([passthrough]).gateway).values()
        assert listener["tls"] == {"mode": "Passthrough"}

    def test_parent_port_wins_over_the_ports_annotation(self) -> None:
        r = route(parents=[parent(port=8443)], annotations={"wrapped-gateway.dev/ports": "9443"})
        assert list(listeners_of(render([r]).gateway)) == ["https-8443-app.example.com"]

    def test_ports_annotation_gives_one_listener_per_port(self) -> None:
        r = route(annotations={"wrapped-gateway.dev/ports": "8443,8444"})
        assert list(listeners_of(render([r]).gateway)) == [
            "https-8443-app.example.com",
            "https-8444-app.example.com",
        ]

    def test_tcp_and_udp_listeners_carry_no_hostname_and_no_tls(self) -> None:
        tcp = route("TCPRoute", "db", annotations={"wrapped-gateway.dev/ports": "5432"})
        udp = route("UDPRoute", "dns", annotations={"wrapped-gateway.dev/ports": "53"})
        listeners = listeners_of(render([tcp, udp]).gateway)
        assert listeners["tcp-5432"] == {
            "name": "tcp-5432",
            "port": 5432,
            "protocol": "TCP",
            "allowedRoutes": {
                "namespaces": {"from": "Same"},
                "kinds": [{"group": "gateway.networking.k8s.io", "kind": "TCPRoute"}],
            },
        }
        assert listeners["udp-53"]["protocol"] == "UDP"
        assert "hostname" not in listeners["udp-53"]

    def test_tcp_route_without_a_port_is_refused(self) -> None:
        result = render([route("TCPRoute", "db")])
        assert result.gateway is None
        assert reasons(result) == [("db", None, "MissingPorts")]

    def test_a_route_with_two_refs_to_one_gateway_claims_both(self) -> None:
        r = route(parents=[parent(port=443), parent(port=8443)])
        assert set(listeners_of(render([r]).gateway)) == {
            "https-443-app.example.com",
            "https-8443-app.example.com",
        }


class TestTcpHostnameAnnotation:
    def test_hostname_is_shown_with_its_listener(self) -> None:
        tcp = route(
            "TCPRoute",
            "db",
            annotations={
                "wrapped-gateway.dev/ports": "5432",
                "wrapped-gateway.dev/hostname": "db.example.com",
            },
        )
        gateway = render([tcp]).gateway
        assert gateway is not None
        assert gateway["metadata"]["annotations"] == {
            "wrapped-gateway.dev/listener-hostnames": '{"tcp-5432":["db.example.com"]}'
        }

    def test_hostname_outside_the_allow_list_refuses_the_route(self) -> None:
        tcp = route(
            "TCPRoute",
            "db",
            annotations={
                "wrapped-gateway.dev/ports": "5432",
                "wrapped-gateway.dev/hostname": "db.example.org",
            },
        )
        result = render([tcp], wrapped(routes={"hostnames": ["*.example.com"]}))
        assert result.gateway is None
        assert reasons(result) == [("db", "db.example.org", "HostnameNotAllowed")]

    def test_invalid_hostname_refuses_the_route(self) -> None:
        tcp = route(
            "TCPRoute",
            "db",
            annotations={
                "wrapped-gateway.dev/ports": "5432",
                "wrapped-gateway.dev/hostname": "10.1.2.3",
            },
        )
        result = render([tcp])
        assert result.gateway is None
        assert reasons(result) == [("db", "10.1.2.3", "InvalidHostname")]


class TestHostnames:
    def test_route_without_hostnames_is_refused(self) -> None:
        result = render([route(hostnames=[])])
        assert result.gateway is None
        assert reasons(result) == [("r", None, "NoHostnames")]

    @pytest.mark.parametrize("bad", ["10.0.0.1", "Bad.Example.com", "a..b"])
    def test_invalid_hostname_is_refused_and_the_others_kept(self, bad: str) -> None:
        result = render([route(hostnames=[bad, "good.example.com"])])
        assert list(listeners_of(result.gateway)) == ["https-443-good.example.com"]
        assert reasons(result) == [("r", bad, "InvalidHostname")]

    def test_wildcard_hostnames_get_their_own_listener_and_secret(self) -> None:
        result = render([route(hostnames=["*.example.com", "wildcard.example.com"])])
        listeners = listeners_of(result.gateway)
        wildcard = listeners["wildcard-https-443-example.com"]
        exact = listeners["https-443-wildcard.example.com"]
        assert wildcard["hostname"] == "*.example.com"
        assert wildcard["tls"]["certificateRefs"][0]["name"] == "wildcard-tls-443-example.com"
        assert exact["tls"]["certificateRefs"][0]["name"] == "tls-443-wildcard.example.com"

    def test_253_character_hostname_gets_valid_bounded_names(self) -> None:
        hostname = ".".join(["a" * 63] * 3) + "." + "b" * 61
        (listener,) = listeners_of(render([route(hostnames=[hostname])]).gateway).values()
        assert listener["hostname"] == hostname
        assert len(listener["name"]) <= 253
        assert len(listener["tls"]["certificateRefs"][0]["name"]) <= 253


class TestTenancy:
    def test_routes_from_other_namespaces_are_refused_by_default(self) -> None:
        result = render([route(namespace="team-a")])
        assert result.gateway is None
        assert reasons(result) == [("r", None, "NotAllowedNamespace")]
        assert "'team-a'" in result.refusals[0].message

    def test_all_namespaces_may_contribute_when_allowed(self) -> None:
        result = render([route(namespace="team-a")], wrapped(routes=ALL))
        (listener,) = listeners_of(result.gateway).values()
        assert listener["allowedRoutes"]["namespaces"] == {
            "from": "Selector",
            "selector": {"matchLabels": {"kubernetes.io/metadata.name": "team-a"}},
        }

    def test_selector_admits_namespaces_by_label(self) -> None:
        gateway = wrapped(
            routes={
                "namespaces": {
                    "from": "Selector",
                    "selector": {"matchLabels": {"gateway": "shared"}},
                }
            }
        )
        labels = {"team-a": {"gateway": "shared"}, "team-b": {"gateway": "private"}}
        result = render(
            [route(name="a", namespace="team-a"), route(name="b", namespace="team-b")],
            gateway,
            labels,
        )
        assert len(listeners_of(result.gateway)) == 1
        assert reasons(result) == [("b", None, "NotAllowedNamespace")]

    def test_selector_sees_the_namespace_name_label_of_unlisted_namespaces(self) -> None:
        gateway = wrapped(
            routes={
                "namespaces": {
                    "from": "Selector",
                    "selector": {
                        "matchExpressions": [
                            {
                                "key": "kubernetes.io/metadata.name",
                                "operator": "In",
                                "values": ["team-a"],
                            }
                        ]
                    },
                }
            }
        )
        result = render([route(namespace="team-a")], gateway)
        assert result.refusals == ()

    def test_hostnames_outside_the_allow_list_contribute_nothing(self) -> None:
        gateway = wrapped(routes={"hostnames": ["*.team.example.com", "exact.example.com"]})
        result = render(
            [
                route(
                    hostnames=[
                        "a.team.example.com",
                        "a.b.team.example.com",
                        "team.example.com",
                        "exact.example.com",
                        "other.example.com",
                    ]
                )
            ],
            gateway,
        )
        assert {listener["hostname"] for listener in listeners_of(result.gateway).values()} == {
            "a.team.example.com",
            "a.b.team.example.com",
            "exact.example.com",
        }
        assert reasons(result) == [  # in the order of spec.hostnames
            ("r", "team.example.com", "HostnameNotAllowed"),
            ("r", "other.example.com", "HostnameNotAllowed"),
        ]

    def test_first_namespace_to_claim_a_hostname_owns_it(self) -> None:
        older = route(name="old", namespace="team-b", created="2026-01-01T00:00:00Z")
        newer = route(name="new", namespace="team-a", created="2026-02-01T00:00:00Z")
        result = render([newer, older], wrapped(routes=ALL))
        (listener,) = listeners_of(result.gateway).values()
        selector = listener["allowedRoutes"]["namespaces"]["selector"]["matchLabels"]
        assert selector == {"kubernetes.io/metadata.name": "team-b"}
        assert reasons(result) == [("new", "app.example.com", "HostnameConflict")]
        assert "team-b" in result.refusals[0].message

    def test_equal_timestamps_are_ordered_by_namespace_then_name(self) -> None:
        a = route(name="z", namespace="aaa")
        b = route(name="a", namespace="bbb")
        result = render([b, a], wrapped(routes=ALL))
        assert reasons(result) == [("a", "app.example.com", "HostnameConflict")]

    def test_later_routes_of_the_owning_namespace_share_the_listener(self) -> None:
        result = render([route(name="one"), route(name="two", created="2026-05-01T00:00:00Z")])
        (listener,) = listeners_of(result.gateway).values()
        assert result.refusals == ()
        assert listener["name"] == "https-443-app.example.com"

    def test_another_namespace_cannot_take_over_a_section_name(self) -> None:
        owner = route(
            name="owner",
            namespace="team-a",
            hostnames=["a.example.com"],
            parents=[parent(sectionName="web")],
        )
        thief = route(
            name="thief",
            namespace="team-b",
            hostnames=["b.example.com"],
            parents=[parent(sectionName="web")],
            created="2026-02-01T00:00:00Z",
        )
        result = render([thief, owner], wrapped(routes=ALL))
        assert listeners_of(result.gateway)["web"]["hostname"] == "a.example.com"
        assert reasons(result) == [("thief", "b.example.com", "SectionNameConflict")]


class TestSectionNames:
    def test_kamaji_tls_routes_name_their_listeners(self) -> None:
        passthrough = {"wrapped-gateway.dev/tls-mode": "Passthrough"}
        api = route(
            "TLSRoute",
            "tcp-apiserver",
            hostnames=["tenant-00.cp.example.com"],
            parents=[parent(sectionName="kube-apiserver", port=6443)],
            annotations=passthrough,
        )
        konnectivity = route(
            "TLSRoute",
            "tcp-konnectivity",
            hostnames=["tenant-00.cp.example.com"],
            parents=[parent(sectionName="konnectivity-server", port=8132)],
            annotations=passthrough,
        )
        listeners = listeners_of(render([api, konnectivity]).gateway)
        assert listeners["kube-apiserver"]["port"] == 6443
        assert listeners["kube-apiserver"]["tls"] == {"mode": "Passthrough"}
        assert listeners["konnectivity-server"]["port"] == 8132
        assert listeners["konnectivity-server"]["hostname"] == "tenant-00.cp.example.com"

    def test_section_name_of_a_static_listener_generates_nothing(self) -> None:
        gateway = wrapped(
            listeners=[
                {
                    "name": "web",
                    "port": 443,
                    "protocol": "HTTPS",
                    "tls": {"certificateRefs": [{"name": "shared"}]},
                }
            ]
        )
        result = render([route(parents=[parent(sectionName="web")])], gateway)
        assert list(listeners_of(result.gateway)) == ["web"]
        assert result.refusals == ()

    def test_a_route_attaching_to_a_static_listener_needs_no_hostname_nor_policy(self) -> None:
        static = [{"name": "http", "port": 80, "protocol": "HTTP"}]
        redirect = route(namespace="team-a", hostnames=[], parents=[parent(sectionName="http")])
        result = render([redirect], wrapped(listeners=static))
        assert list(listeners_of(result.gateway)) == ["http"]
        assert result.refusals == ()

    def test_section_name_with_several_hostnames_keeps_the_first(self) -> None:
        r = route(hostnames=["a.example.com", "b.example.com"], parents=[parent(sectionName="web")])
        result = render([r])
        assert listeners_of(result.gateway)["web"]["hostname"] == "a.example.com"
        assert reasons(result) == [("r", "b.example.com", "AmbiguousSectionName")]

    def test_a_section_name_cannot_name_a_second_listener(self) -> None:
        first = route(name="a", hostnames=["a.example.com"], parents=[parent(sectionName="web")])
        second = route(name="b", hostnames=["b.example.com"], parents=[parent(sectionName="web")])
        result = render([first, second])
        assert reasons(result) == [("b", "b.example.com", "SectionNameConflict")]

    def test_a_generated_name_never_collides_with_a_chosen_one(self) -> None:
        chooser = route(
            name="a",
            hostnames=["a.example.com"],
            parents=[parent(sectionName="https-443-b.example.com")],
        )
        plain = route(name="b", hostnames=["b.example.com"], created="2026-02-01T00:00:00Z")
        listeners = listeners_of(render([chooser, plain]).gateway)
        assert listeners["https-443-b.example.com"]["hostname"] == "a.example.com"
        (other,) = (v for k, v in listeners.items() if k != "https-443-b.example.com")
        assert other["hostname"] == "b.example.com"
        assert other["name"].startswith("https-443-b.example.com-")

    def test_a_section_name_for_a_listener_that_exists_under_another_name_is_refused(self) -> None:
        plain = route(name="a")
        named = route(
            name="b", parents=[parent(sectionName="mine")], created="2026-02-01T00:00:00Z"
        )
        result = render([plain, named])
        assert reasons(result) == [("b", "app.example.com", "SectionNameConflict")]

    def test_invalid_section_name_is_refused(self) -> None:
        result = render([route(parents=[parent(sectionName="Not_Valid")])])
        assert reasons(result) == [("r", None, "InvalidSectionName")]


class TestConflicts:
    def test_refusals_come_in_claim_order_oldest_route_first(self) -> None:
        # Not sorted by name: sorting every reconcile's refusals would make one tenant's
        # thousands of refused routes slow every change on the shared Gateway.
        owner = route(name="z", namespace="team-z", hostnames=["a.example.com", "b.example.com"])
        newest = route(
            name="a",
            namespace="team-a",
            hostnames=["b.example.com", "a.example.com"],
            created="2026-03-01T00:00:00Z",
        )
        newer = route(
            name="z",
            namespace="team-y",
            hostnames=["b.example.com"],
            created="2026-02-01T00:00:00Z",
        )
        result = render([newest, newer, owner], wrapped(routes=ALL))
        assert [(r.namespace, r.hostname) for r in result.refusals] == [
            ("team-y", "b.example.com"),
            ("team-a", "b.example.com"),
            ("team-a", "a.example.com"),
        ]

    def test_tcp_cannot_share_a_port_with_https(self) -> None:
        web = route(name="web")
        tcp = route(
            "TCPRoute",
            "raw",
            annotations={"wrapped-gateway.dev/ports": "443"},
            created="2026-02-01T00:00:00Z",
        )
        result = render([web, tcp])
        assert list(listeners_of(result.gateway)) == ["https-443-app.example.com"]
        assert reasons(result) == [("raw", None, "PortConflict")]

    def test_https_cannot_join_a_port_a_tcp_listener_holds(self) -> None:
        tcp = route("TCPRoute", "raw", annotations={"wrapped-gateway.dev/ports": "443"})
        web = route(name="web", created="2026-02-01T00:00:00Z")
        result = render([web, tcp])
        assert list(listeners_of(result.gateway)) == ["tcp-443"]
        assert reasons(result) == [("web", "app.example.com", "PortConflict")]

    def test_tcp_and_udp_may_share_a_port_number(self) -> None:
        tcp = route("TCPRoute", "t", annotations={"wrapped-gateway.dev/ports": "53"})
        udp = route("UDPRoute", "u", annotations={"wrapped-gateway.dev/ports": "53"})
        assert set(listeners_of(render([tcp, udp]).gateway)) == {"tcp-53", "udp-53"}

    def test_tcp_ports_belong_to_the_first_namespace(self) -> None:
        a = route("TCPRoute", "a", "team-a", annotations={"wrapped-gateway.dev/ports": "5432"})
        b = route(
            "TCPRoute",
            "b",
            "team-b",
            annotations={"wrapped-gateway.dev/ports": "5432"},
            created="2026-02-01T00:00:00Z",
        )
        result = render([a, b], wrapped(routes=ALL))
        assert reasons(result) == [("b", None, "PortConflict")]

    def test_https_and_tls_cannot_serve_one_hostname_on_one_port(self) -> None:
        web = route(name="web")
        tls = route("TLSRoute", "tls", created="2026-02-01T00:00:00Z")
        result = render([web, tls])
        assert reasons(result) == [("tls", "app.example.com", "HostnameConflict")]

    def test_passthrough_and_terminate_cannot_share_a_tls_listener(self) -> None:
        terminate = route("TLSRoute", "a")
        passthrough = route(
            "TLSRoute",
            "b",
            annotations={"wrapped-gateway.dev/tls-mode": "Passthrough"},
            created="2026-02-01T00:00:00Z",
        )
        result = render([terminate, passthrough])
        assert reasons(result) == [("b", "app.example.com", "TLSModeConflict")]

    def test_https_cannot_share_a_port_with_a_plain_http_listener(self) -> None:
        static = [{"name": "http", "port": 8080, "protocol": "HTTP"}]
        result = render([route(parents=[parent(port=8080)])], wrapped(listeners=static))
        assert list(listeners_of(result.gateway)) == ["http"]
        assert reasons(result) == [("r", "app.example.com", "PortConflict")]
        assert "static listener 'http'" in result.refusals[0].message

    def test_on_the_http_port_a_route_shares_it_with_a_hostnameless_http_listener(self) -> None:
        static = [{"name": "http", "port": 80, "protocol": "HTTP"}]
        result = render([route(parents=[parent(port=80)])], wrapped(listeners=static))
        assert list(listeners_of(result.gateway)) == ["http", "http-80-app.example.com"]
        assert not result.refusals

    def test_static_listener_key_serves_the_route(self) -> None:
        static = {
            "name": "apex",
            "port": 443,
            "protocol": "HTTPS",
            "hostname": "app.example.com",
            "tls": {"certificateRefs": [{"name": "apex"}]},
        }
        result = render([route()], wrapped(listeners=[static]))
        assert list(listeners_of(result.gateway)) == ["apex"]
        assert result.refusals == ()

    def test_static_listener_blocks_a_conflicting_protocol(self) -> None:
        static = {
            "name": "pass",
            "port": 443,
            "protocol": "TLS",
            "hostname": "app.example.com",
            "tls": {"mode": "Passthrough"},
        }
        result = render([route()], wrapped(listeners=[static]))
        assert list(listeners_of(result.gateway)) == ["pass"]
        assert reasons(result) == [("r", "app.example.com", "HostnameConflict")]
        assert "static listener 'pass'" in result.refusals[0].message


class TestListenerLimit:
    def test_oldest_routes_keep_their_listeners_up_to_64_including_static(self) -> None:
        static = [{"name": "http", "port": 80, "protocol": "HTTP"}]
        routes = [
            route(
                name=f"r{i:03}",
                hostnames=[f"h{i}.example.com"],
                created=f"2026-01-01T00:{i // 60:02}:{i % 60:02}Z",
            )
            for i in range(70)
        ]
        random.Random(7).shuffle(routes)
        result = render(routes, wrapped(listeners=static))
        assert result.gateway is not None
        assert len(result.gateway["spec"]["listeners"]) == 64
        refused = sorted(r.name for r in result.refusals)
        assert refused == [f"r{i:03}" for i in range(63, 70)]
        assert {r.reason for r in result.refusals} == {"TooManyListeners"}


class TestIsolation:
    def test_one_broken_route_never_removes_the_listeners_of_others(self) -> None:
        good = route(name="good")
        broken = [
            route(name="bad-ports", annotations={"wrapped-gateway.dev/ports": "nope"}),
            route(name="bad-host", hostnames=["1.2.3.4"]),
            route("TCPRoute", "no-port"),
            route(name="bad-mode", annotations={"wrapped-gateway.dev/tls-mode": "Passthrough"}),
        ]
        alone = render([good])
        together = render([good, *broken])
        assert together.gateway == alone.gateway
        assert sorted(r.reason for r in together.refusals) == [
            "InvalidHostname",
            "InvalidPorts",
            "InvalidTLSMode",
            "MissingPorts",
        ]

    def test_routes_for_other_gateways_are_ignored(self) -> None:
        result = render([route(parents=[parent(name="other")]), route(name="mine")])
        assert len(listeners_of(result.gateway)) == 1
        assert result.refusals == ()


class TestAcmeSolverRoutes:
    """The ownership rules for solver routes: tests/unit/test_plain_http_and_acme.py."""

    def test_cert_managers_solver_route_adds_only_its_names_plain_http_listener(self) -> None:
        obj = route_obj(hostnames=["app.example.com"])
        obj["metadata"]["labels"] = {"acme.cert-manager.io/http01-solver": "true"}
        result = render([route(name="web"), parse_route(obj)])
        alone = listeners_of(render([route(name="web")]).gateway)
        assert listeners_of(result.gateway) == {
            **alone,
            "http-80-app.example.com": {
                "name": "http-80-app.example.com",
                "port": 80,
                "protocol": "HTTP",
                "hostname": "app.example.com",
                "allowedRoutes": {
                    "namespaces": {"from": "Same"},
                    "kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
                },
            },
        }
        assert result.refusals == ()


class TestGatewayManifest:
    def test_no_listeners_means_no_gateway(self) -> None:
        result = render([])
        assert result.gateway is None
        assert result.refusals == ()

    def test_static_listeners_come_first_and_verbatim(self) -> None:
        static = {
            "name": "http",
            "port": 80,
            "protocol": "HTTP",
            "allowedRoutes": {"namespaces": {"from": "All"}},
        }
        gateway = render([route()], wrapped(listeners=[static])).gateway
        assert gateway is not None
        assert gateway["spec"]["listeners"][0] == static

    def test_spec_fields_are_copied_and_policy_is_not(self) -> None:
        gateway = wrapped(
            routes=ALL,
            addresses=[{"type": "IPAddress", "value": "10.0.0.1"}],
            infrastructure={"labels": {"a": "b"}},
            allowedListeners={"namespaces": {"from": "Same"}},
        )
        spec = render([route()], gateway).gateway["spec"]  # type: ignore[index]
        assert spec["gatewayClassName"] == "example"
        assert spec["addresses"] == [{"type": "IPAddress", "value": "10.0.0.1"}]
        assert spec["infrastructure"] == {"labels": {"a": "b"}}
        assert spec["allowedListeners"] == {"namespaces": {"from": "Same"}}
        assert "routes" not in spec

    def test_metadata_labels_and_annotations_are_copied(self) -> None:

        obj = wrapped_obj(
            labels={"team": "platform"},
            annotations={
                "cert-manager.io/cluster-issuer": "letsencrypt",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                "kopf.zalando.org/last-handled-configuration": "{}",
            },
            uid="1234",
        )
        gateway = desired_gateway(parse_wrapped_gateway(obj), [route()], {}).gateway
        assert gateway is not None
        metadata = gateway["metadata"]
        assert metadata["name"] == "gw"
        assert metadata["namespace"] == "infra"
        assert metadata["labels"] == {"team": "platform"}
        assert metadata["annotations"] == {"cert-manager.io/cluster-issuer": "letsencrypt"}
        assert metadata["ownerReferences"] == [
            {
                "apiVersion": "wrapped-gateway.dev/v1alpha1",
                "kind": "WrappedGateway",
                "name": "gw",
                "uid": "1234",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        assert gateway["apiVersion"] == "gateway.networking.k8s.io/v1"


class TestGatewayRouteSyncMigration:
    """The examples of gateway-route-sync's README, rendered without touching the routes."""

    def test_http_route_with_section_name_and_port(self) -> None:
        r = route(hostnames=["app.example.com"], parents=[parent(sectionName="app", port=443)])
        listeners = listeners_of(render([r]).gateway)
        assert listeners["app"]["hostname"] == "app.example.com"
        assert listeners["app"]["protocol"] == "HTTPS"

    def test_tcp_route_with_legacy_annotations(self) -> None:
        tcp = route(
            "TCPRoute",
            "ssh",
            parents=[parent(sectionName="ssh")],
            annotations={
                "gateway-route-sync.homelab-helper.benfiola.com/ports": "2222",
                "gateway-route-sync.homelab-helper.benfiola.com/hostname": "git.example.com",
            },
        )
        gateway = render([tcp]).gateway
        listeners = listeners_of(gateway)
        assert listeners["ssh"]["port"] == 2222
        assert listeners["ssh"]["protocol"] == "TCP"
        assert gateway["metadata"]["annotations"]["wrapped-gateway.dev/listener-hostnames"] == (  # type: ignore[index]
            '{"ssh":["git.example.com"]}'
        )

    def test_every_hostname_gets_a_listener_not_just_the_first(self) -> None:
        r = route(hostnames=["a.example.com", "b.example.com", "c.example.com"])
        assert len(listeners_of(render([r]).gateway)) == 3

    def test_wildcard_secret_names_are_valid(self) -> None:
        (listener,) = listeners_of(render([route(hostnames=["*.example.com"])]).gateway).values()
        assert listener["tls"]["certificateRefs"][0]["name"] == "wildcard-tls-443-example.com"
