"""Property tests for the listener core and `render` (issue #2, "Done when").

Random WrappedGateways and random routes of all five kinds are built as plain dicts, the way
they come out of YAML or the API server, and fed through `parse_route` /
`parse_wrapped_gateway` / `desired_gateway`, and through `render` as `Document`s.

The properties:

(a) the output (Gateway manifest, generated listeners, refusals; render's YAML) does not depend
    on the order of the input;
(b) every emitted Gateway satisfies the Gateway API's listener rules;
(c) every allowed (route, hostname, port) is served by exactly one listener, every generated
    listener is justified by a route that may have it, and nothing a route asked for vanishes
    without a refusal;
(d) bad input (any annotation text, values YAML types wrongly) is refused per route, never
    raised.

The expectations are computed here from the raw dicts by an oracle written from the issue's
wording (`Claim`, `oracle_*`), not from the product's own model, so the two can disagree.
Examples are capped by PROPERTY_SETTINGS; most of the time goes to Hypothesis generating data.
The examples are the same on every run (derandomized), so that a run judges the code and not
the draw; `WG_PROPERTY_SOAK=N` explores instead, with N times as many fresh random examples,
and a failure it finds becomes an `@example` here.
"""

import ipaddress
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import combinations, product
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wrapped_gateway.listeners import DesiredGateway, desired_gateway
from wrapped_gateway.render.manifests import Document, ManifestError
from wrapped_gateway.render.render import render, to_yaml
from wrapped_gateway.routes import parse_route
from wrapped_gateway.wrapped import parse_wrapped_gateway

SOAK = int(os.environ.get("WG_PROPERTY_SOAK") or 0)


def examples(count: int) -> int:
    return count * max(SOAK, 1)


PROPERTY_SETTINGS = settings(
    max_examples=examples(200),
    derandomize=not SOAK,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

GROUP = "gateway.networking.k8s.io"
WRAPPED_API_VERSION = "wrapped-gateway.dev/v1alpha1"
PORTS_ANNOTATIONS = (
    "wrapped-gateway.dev/ports",
    "gateway-route-sync.homelab-helper.benfiola.com/ports",
    "gateway-route-sync.homelab-helper.benfiola.com/port",
)
HOSTNAME_ANNOTATIONS = (
    "wrapped-gateway.dev/hostname",
    "gateway-route-sync.homelab-helper.benfiola.com/hostname",
    "external-dns.kubernetes.io/hostname",
    "external-dns.alpha.kubernetes.io/hostname",
)
TLS_MODE_ANNOTATION = "wrapped-gateway.dev/tls-mode"
NAME_LABEL = "kubernetes.io/metadata.name"

# The Gateway API's own patterns (SectionName, Hostname) and Kubernetes' DNS-1123 subdomain.
SECTION_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_SUBDOMAIN = SECTION_NAME
MAX_NAME = 253
MAX_LISTENERS = 64

PROTOCOL_OF_KIND = {
    "HTTPRoute": "HTTPS",
    "GRPCRoute": "HTTPS",
    "TLSRoute": "TLS",
    "TCPRoute": "TCP",
    "UDPRoute": "UDP",
}
# The scenarios leave spec.routes.httpPort at its default: an HTTPRoute or GRPCRoute asking for
# this port gets a plain-HTTP listener there.
HTTP_PORT = 80


def protocol_on(kind: str, port: int) -> str:
    return (
        "HTTP"
        if port == HTTP_PORT and kind in ("HTTPRoute", "GRPCRoute")
        else PROTOCOL_OF_KIND[kind]
    )


KINDS_OF_PROTOCOL = {
    "HTTP": {"HTTPRoute", "GRPCRoute"},
    "HTTPS": {"HTTPRoute", "GRPCRoute"},
    "TLS": {"TLSRoute"},
    "TCP": {"TCPRoute"},
    "UDP": {"UDPRoute"},
}
HOSTNAMED_KINDS = {"HTTPRoute", "GRPCRoute", "TLSRoute"}
SERVED_VERSIONS = {
    "HTTPRoute": ("v1", "v1beta1"),
    "GRPCRoute": ("v1",),
    "TLSRoute": ("v1", "v1alpha3", "v1alpha2"),
    "TCPRoute": ("v1", "v1alpha2"),
    "UDPRoute": ("v1", "v1alpha2"),
}

# --------------------------------------------------------------------------------------------
# Pools the strategies draw from: small, so that routes collide on hostnames, ports and names.
# --------------------------------------------------------------------------------------------

NAMESPACES = ("infra", "team-a", "team-b", "team-c")
GATEWAY_TARGETS = (("infra", "edge"), ("infra", "shared"), ("team-a", "edge"))
ROUTE_NAMES = ("r0", "r1", "r2", "r3", "r4", "r5", "r6", "r7")


def _long_hostname(length: int, wildcard: bool = False) -> str:
    """A valid-looking hostname of exactly `length` characters ending in example.com."""
    prefix = "*." if wildcard else ""
    tail = ".example.com"
    body = length - len(prefix) - len(tail)
    labels, left = [], body
    while left > 0:
        size = min(50, left)
        if left - size == 1:  # never leave a dangling one-character remainder after a dot
            size -= 2
        labels.append("a" * size)
        left -= size + 1  # the dot before the next label
    text = prefix + ".".join(labels)
    text = text[: length - len(tail)].rstrip(".")
    text = text + "b" * (length - len(tail) - len(text))
    return text + tail


LONG_253 = _long_hostname(253)
LONG_WILDCARD_253 = _long_hostname(253, wildcard=True)
LONG_254 = _long_hostname(254)
assert len(LONG_253) == 253
assert HOSTNAME.match(LONG_253)
assert len(LONG_WILDCARD_253) == 253
assert HOSTNAME.match(LONG_WILDCARD_253)
assert len(LONG_254) == 254

VALID_HOSTNAMES = (
    "a.example.com",
    "b.example.com",
    "k.example.com",
    "x.a.example.com",
    "example.com",
    "wildcard.example.com",  # must never meet *.example.com's listener or Secret name
    "*.example.com",
    "*.a.example.com",
    "api.example.org",
    "*.example.org",
    "x.team-a.example.com",  # under *.{namespace}.example.com for team-a only
    "*.team-b.example.com",
    LONG_253,
    LONG_WILDCARD_253,
)
INVALID_HOSTNAMES = (
    "",
    "*",
    "Upper.Example.com",
    "under_score.example.com",
    "a..example.com",
    "example.com.",
    "a.*.example.com",
    "-lead.example.com",
    " a.example.com",  # spec.hostnames are not trimmed (annotations are)
    "a.example.com,b.example.com",
    "10.0.0.1",
    "192.168.1.1",
    "::1",
    "2001:db8::1",
    LONG_254,
)
ALLOW_PATTERNS = (
    "*.example.com",
    "a.example.com",
    "example.com",
    "*.example.org",
    "api.example.org",
    "k.example.com",
    "*.{namespace}.example.com",
)


def spread(common: tuple[Any, ...], rare: tuple[Any, ...]) -> tuple[Any, ...]:
    """`common` around `rare`: Hypothesis favours both ends of what it samples from."""
    half = len(common) // 2
    return common[:half] + rare + common[half:]


# Valid values come up three times as often as invalid ones, so that most routes get further.
PARENT_PORTS = spread((443, 8443, 6443, 8132, 5432, 53, 80) * 3, (0, 70000, -1, "443", True))
PORTS_ANNOTATION_VALUES = spread(
    ("8443", "8443,8444", "443, 8443", "443,443", "5432", "53", "6443,8132", "80") * 3,
    ("abc", "0", "99999", "", "8443,", "-1", "443;8443"),
)
SECTION_NAMES = (
    "kube-apiserver",
    "konnectivity-server",
    "web",
    "http",
    "postgres",
    "https-443-a.example.com",  # what the core would name a.example.com's listener
    "tls-443-k.example.com",
    "Bad_Name",
    "-bad",
    "a" * 254,
    "web",
)
TLS_MODES = spread(("Passthrough", "passthrough", "Terminate", " terminate ") * 2, ("Bogus",))
TIMESTAMPS = (
    "2024-01-01T00:00:00Z",
    "2024-01-01T00:00:00+00:00",  # the same instant as the one above: a tie
    "2023-12-31T23:00:00-01:00",  # and again
    datetime(2024, 1, 1, tzinfo=UTC),  # what YAML loads an unquoted timestamp as
    "2023-06-01T00:00:00Z",
    "not-a-time",
    "2024-01-02T12:00:00Z",
)

# Static listeners a platform team might write; pairwise valid and free of conflicts, so any
# subset of them is a valid listener list on its own.
STATIC_LISTENERS: tuple[dict[str, Any], ...] = (
    {
        "name": "http",
        "port": 80,
        "protocol": "HTTP",
        "allowedRoutes": {"namespaces": {"from": "All"}},
    },
    {
        "name": "kube-apiserver",
        "port": 6443,
        "protocol": "TLS",
        "hostname": "k.example.com",
        "tls": {"mode": "Passthrough"},
    },
    {
        "name": "konnectivity-server",
        "port": 8132,
        "protocol": "TLS",
        "hostname": "k.example.com",
        "tls": {"mode": "Passthrough"},
    },
    {
        "name": "web",
        "port": 443,
        "protocol": "HTTPS",
        "hostname": "b.example.com",
        "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "static-web"}]},
    },
    {"name": "postgres", "port": 5432, "protocol": "TCP"},
    {"name": "dns", "port": 53, "protocol": "UDP"},
)
SELECTORS: tuple[dict[str, Any], ...] = (
    {"matchLabels": {"access": "shared"}},
    {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold"]}]},
    {"matchExpressions": [{"key": "access", "operator": "Exists"}]},
    {"matchExpressions": [{"key": "access", "operator": "DoesNotExist"}]},
    {"matchExpressions": [{"key": NAME_LABEL, "operator": "NotIn", "values": ["team-c"]}]},
    {},
)

# --------------------------------------------------------------------------------------------
# Strategies. Hypothesis draws only tuples of pool indices and flags from strategies built
# once, here; plain functions (`build_*`) turn them into the dicts the product reads.
# --------------------------------------------------------------------------------------------


def weighted(*choices: tuple[st.SearchStrategy[Any], int]) -> st.SearchStrategy[Any]:
    """One of the strategies, each as likely as its weight says.

    `st.one_of` drops repeated strategies, so repetition alone does not weigh; each copy is
    made distinct with an identity `map`. The first strategy is also placed last, since
    Hypothesis favours both ends.
    """
    branches = [s.map(lambda x: x) for s, weight in choices for _ in range(weight)]
    first, rest = branches[: choices[0][1]], branches[choices[0][1] :]
    half = len(first) // 2
    return st.one_of(*first[:half], *rest, *first[half:])


def sometimes(strategy: st.SearchStrategy[Any], often: int = 1, rarely: int = 2) -> Any:
    """`strategy` or None, None being `rarely`:`often` as likely."""
    if often >= rarely:
        return weighted((strategy, often), (st.none(), rarely))
    return weighted((st.none(), rarely), (strategy, often))


def maybe(pool: tuple[Any, ...], often: int = 1, rarely: int = 2) -> Any:
    """An item of `pool` or None (`rarely`:`often`), in one draw."""
    items, nones = pool * often, (None,) * (len(pool) * rarely)
    return st.sampled_from(spread(items, nones) if often >= rarely else spread(nones, items))


# Many distinct hostnames, so that some Gateways reach the 64-listener limit.
many_hostnames = st.integers(0, 99).map(lambda i: f"h{i}.example.com")
# Valid hostnames three times as often as invalid ones, and a few of the many, in one draw.
hostnames = st.sampled_from(
    spread(VALID_HOSTNAMES * 3, INVALID_HOSTNAMES + tuple(f"h{i}.example.com" for i in range(8)))
)

# Labels of the namespaces in the pool; a namespace left out has only its name label.
namespace_labels = st.tuples(
    *[
        sometimes(
            st.fixed_dictionaries(
                {},
                optional={
                    "access": st.sampled_from(("shared", "private")),
                    "tier": st.sampled_from(("gold", "silver")),
                },
            ),
            often=3,
            rarely=1,
        )
        for _ in NAMESPACES
    ]
).map(
    lambda drawn: {
        ns: labels for ns, labels in zip(NAMESPACES, drawn, strict=True) if labels is not None
    }
)

# (static listeners, spec.routes.namespaces, spec.routes.hostnames, with metadata?)
wrapped_fields = st.tuples(
    st.lists(st.sampled_from(STATIC_LISTENERS), max_size=4, unique_by=lambda s: s["name"]),
    st.sampled_from(
        (
            {"from": "All"},
            *({"from": "Selector", "selector": selector} for selector in SELECTORS),
            {"from": "All"},
            {"from": "Same"},
            None,  # the default: Same
            None,
        )
    ),
    sometimes(st.lists(st.sampled_from(ALLOW_PATTERNS), min_size=1, max_size=3, unique=True)),
    st.booleans(),
)


def build_wrapped_gateway(namespace: str, name: str, fields: tuple[Any, ...]) -> dict[str, Any]:
    """A WrappedGateway: maybe static listeners, a namespace policy, maybe a hostname allow-list."""
    statics, policy, allow, with_metadata = fields
    spec: dict[str, Any] = {"gatewayClassName": "example"}
    if statics:
        spec["listeners"] = [dict(s) for s in statics]
    routes: dict[str, Any] = {}
    if policy is not None:
        routes["namespaces"] = policy
    if allow is not None:
        routes["hostnames"] = allow
    if routes:
        spec["routes"] = routes
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if with_metadata:
        metadata["annotations"] = {"cert-manager.io/cluster-issuer": "letsencrypt"}
        metadata["labels"] = {"team": "platform"}
    return {
        "apiVersion": WRAPPED_API_VERSION,
        "kind": "WrappedGateway",
        "metadata": metadata,
        "spec": spec,
    }


REF_SHAPES = spread(
    ("target",) * 12,
    (
        "target-explicit",  # group and kind spelled out
        "other-gateway",
        "service",  # GAMMA
        "other-group",
        "listenerset",
    ),
)
# (which target, shape, namespace spelled out?, port, sectionName)
parent_fields = st.tuples(
    st.sampled_from((0, 0, 0, 1, 0, 0)),
    st.sampled_from(REF_SHAPES),
    st.booleans(),
    maybe(PARENT_PORTS, 1, 3),
    maybe(SECTION_NAMES, 1, 5),
)


def build_parent_ref(
    fields: tuple[Any, ...], route_namespace: str, targets: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    """A parentRef to one of `targets` (namespace explicit or implied), elsewhere, or not ours."""
    index, shape, explicit_namespace, port, section = fields
    namespace, name = targets[index % len(targets)]  # with one WrappedGateway, 1 is elsewhere
    ref: dict[str, Any] = {"name": name}
    if shape == "other-gateway":
        ref["name"] = "elsewhere"
    elif shape == "service":
        ref.update(namespace=namespace, group="", kind="Service")
    elif shape == "other-group":
        ref.update(namespace=namespace, group="example.com", kind="Gateway")
    elif shape == "listenerset":
        ref.update(namespace=namespace, kind="ListenerSet")
    else:
        if namespace != route_namespace or explicit_namespace:
            ref["namespace"] = namespace
        if shape == "target-explicit":
            ref.update(group=GROUP, kind="Gateway")
    if port is not None:
        ref["port"] = port
    if section is not None:
        ref["sectionName"] = section
    return ref


route_identities = st.tuples(
    st.sampled_from(tuple(PROTOCOL_OF_KIND)),
    # 0 is the WrappedGateway's own namespace, 1-3 the others of the pool
    st.sampled_from((0, 0, 1, 2, 3, 0)),
    st.sampled_from(ROUTE_NAMES),
)


# Choices drawn together, one draw each (Hypothesis spends its time per draw):
# (ports annotation name, value)
ports_annotations = maybe(tuple(product(PORTS_ANNOTATIONS, PORTS_ANNOTATION_VALUES)))
# (tls-mode, set it on a route that is not a TLSRoute too?)
tls_modes = maybe(tuple(product(TLS_MODES, spread((False,) * 9, (True,)))), 1, 2)
# (spec.hostnames: "list" | "absent" | "empty", hostname annotation name, served version index)
route_variants = st.sampled_from(
    tuple(product(spread(("list",) * 8, ("absent", "empty")), HOSTNAME_ANNOTATIONS, range(3)))
)


def route_fields(hostname_strategy: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    # (creationTimestamp, (ports annotation name, value), (tls-mode, on any kind?), parentRefs,
    #  hostnames, (hostnames shape, hostname annotation name, served version))
    return st.tuples(
        maybe(TIMESTAMPS, 4, 1),
        ports_annotations,
        tls_modes,
        st.lists(parent_fields, min_size=1, max_size=2),
        st.lists(hostname_strategy, min_size=1, max_size=4),
        route_variants,
    )


def route_rows(
    hostname_strategy: st.SearchStrategy[str] = hostnames, max_routes: int = 12
) -> st.SearchStrategy[Any]:
    """Identities and fields of routes; (kind, namespace, name) unique, as in a cluster."""
    return st.lists(
        st.tuples(route_identities, route_fields(hostname_strategy)),
        min_size=2,
        max_size=max_routes,
        unique_by=lambda row: row[0],
    )


def namespaces_by_slot(own: str) -> tuple[str, ...]:
    return (own, *(ns for ns in NAMESPACES if ns != own))


def build_route(
    identity: tuple[str, int, str], fields: tuple[Any, ...], targets: tuple[tuple[str, str], ...]
) -> dict[str, Any]:
    """A route of any kind and served version, as a dict."""
    kind, slot, name = identity
    namespace = namespaces_by_slot(targets[0][0])[slot]
    created, ports, tls, refs, names, (shape, hostname_name, version) = fields
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if created is not None:
        metadata["creationTimestamp"] = created
    annotations: dict[str, Any] = {}
    if ports is not None:
        annotations[ports[0]] = ports[1]
    if tls is not None and (kind == "TLSRoute" or tls[1]):
        annotations[TLS_MODE_ANNOTATION] = tls[0]
    spec: dict[str, Any] = {
        "parentRefs": [build_parent_ref(ref, namespace, targets) for ref in refs],
    }
    if kind in HOSTNAMED_KINDS:
        if shape != "absent":
            spec["hostnames"] = names if shape == "list" else []
    elif shape == "list":
        annotations[hostname_name] = names[0]
    if annotations:
        metadata["annotations"] = annotations
    versions = SERVED_VERSIONS[kind]
    return {
        "apiVersion": f"{GROUP}/{versions[version % len(versions)]}",
        "kind": kind,
        "metadata": metadata,
        "spec": spec,
    }


ROUTE_ROWS = route_rows()


@dataclass(frozen=True)
class Scenario:
    """One WrappedGateway, the routes around it and the labels of their namespaces."""

    wrapped: dict[str, Any]
    routes: list[dict[str, Any]]
    labels: dict[str, dict[str, str]]

    @property
    def target(self) -> tuple[str, str]:
        return self.wrapped["metadata"]["namespace"], self.wrapped["metadata"]["name"]


# Contested Gateways: every namespace admitted and four hostnames to share, so that routes
# collide on listeners, names and TLS modes, and precedence decides.
CONTESTED_ROWS = route_rows(
    st.sampled_from(("a.example.com", "*.example.com", "k.example.com", "b.example.com"))
)
contested_wrapped_fields = st.tuples(
    wrapped_fields.map(lambda fields: fields[0]),
    st.just({"from": "All"}),
    st.none(),
    st.booleans(),
)


@st.composite
def one_wrapped_gateway(
    draw: st.DrawFn, fields: st.SearchStrategy[Any], rows: st.SearchStrategy[Any]
) -> Scenario:
    namespace, name = draw(st.sampled_from(GATEWAY_TARGETS))
    # Mostly the WrappedGateway itself; sometimes another one, whose routes must be ignored.
    targets = ((namespace, name), ("team-b", "other"))
    return Scenario(
        wrapped=build_wrapped_gateway(namespace, name, draw(fields)),
        routes=[build_route(identity, fields, targets) for identity, fields in draw(rows)],
        labels=draw(namespace_labels),
    )


def scenarios() -> st.SearchStrategy[Scenario]:
    """Mostly varied WrappedGateways and routes; one in three contested."""
    return weighted(
        (one_wrapped_gateway(wrapped_fields, ROUTE_ROWS), 2),
        (one_wrapped_gateway(contested_wrapped_fields, CONTESTED_ROWS), 1),
    )


# Crowded Gateways: a dozen or more routes with three to eight hostnames each from a pool of a
# hundred, all admitted, so that most examples run into the 64-listener limit.
crowded_rows = st.lists(
    st.tuples(
        st.tuples(
            st.sampled_from(("HTTPRoute", "GRPCRoute", "TLSRoute")),
            st.sampled_from((0, 0, 1)),
            st.sampled_from(ROUTE_NAMES),
        ),
        st.tuples(
            maybe(TIMESTAMPS, 4, 1),
            st.none(),
            st.none(),
            st.tuples(
                st.just(0), st.just("target"), st.booleans(), maybe((443, 8443)), st.none()
            ).map(lambda ref: [ref]),
            st.lists(many_hostnames, min_size=4, max_size=10),
            st.tuples(st.just("list"), st.just(HOSTNAME_ANNOTATIONS[0]), st.integers(0, 2)),
        ),
    ),
    min_size=10,
    max_size=24,
    unique_by=lambda row: row[0],
)
crowded_wrapped_fields = st.tuples(
    wrapped_fields.map(lambda fields: fields[0]),
    st.just({"from": "All"}),
    st.sampled_from((None, ["*.example.com"])),
    st.booleans(),
)


@st.composite
def crowded_scenarios(draw: st.DrawFn) -> Scenario:
    namespace, name = draw(st.sampled_from(GATEWAY_TARGETS))
    targets = ((namespace, name),)
    return Scenario(
        wrapped=build_wrapped_gateway(namespace, name, draw(crowded_wrapped_fields)),
        routes=[build_route(identity, fields, targets) for identity, fields in draw(crowded_rows)],
        labels={},
    )


def desired(scenario: Scenario, routes: Iterable[dict[str, Any]] | None = None) -> DesiredGateway:
    wrapped = parse_wrapped_gateway(scenario.wrapped)
    parsed = [parse_route(r) for r in (scenario.routes if routes is None else routes)]
    return desired_gateway(wrapped, parsed, scenario.labels)


# --------------------------------------------------------------------------------------------
# The Gateway API's listener rules, checked on a manifest
# --------------------------------------------------------------------------------------------

HOSTNAME_PROTOCOLS = {"HTTP", "HTTPS", "TLS"}


def listener_key(listener: Mapping[str, Any]) -> tuple[int, str, str | None]:
    return listener["port"], listener["protocol"], listener.get("hostname")


def conflict(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether a Gateway would mark the two listeners Conflicted (or the API server refuse them)."""
    (port_a, proto_a, host_a), (port_b, proto_b, host_b) = listener_key(a), listener_key(b)
    if port_a != port_b:
        return False
    if proto_a in HOSTNAME_PROTOCOLS and proto_b in HOSTNAME_PROTOCOLS:
        # plain HTTP and the TLS-based protocols cannot share a port (ProtocolConflict)
        return host_a == host_b or (proto_a == "HTTP") != (proto_b == "HTTP")
    if {proto_a, proto_b} & {"TCP"} and {proto_a, proto_b} & HOSTNAME_PROTOCOLS:
        return True
    return proto_a == proto_b  # TCP/TCP, UDP/UDP


def is_dns1123_subdomain(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME and bool(DNS1123_SUBDOMAIN.match(name))


def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def assert_valid_gateway(gateway: Mapping[str, Any]) -> None:
    """Every listener rule the API server (CEL) enforces, and no two listeners in conflict."""
    assert gateway["apiVersion"] == f"{GROUP}/v1"
    assert gateway["kind"] == "Gateway"
    assert_valid_listeners(gateway["spec"]["listeners"])


def assert_valid_listeners(listeners: list[Mapping[str, Any]]) -> None:
    """The rules a Gateway's and a ListenerSet's listener list share."""
    assert 1 <= len(listeners) <= MAX_LISTENERS, len(listeners)

    names = [listener["name"] for listener in listeners]
    assert len(set(names)) == len(names), f"duplicate listener names: {names}"
    keys = [listener_key(listener) for listener in listeners]
    assert len(set(keys)) == len(keys), f"duplicate (port, protocol, hostname): {keys}"

    secrets: list[str] = []
    for listener in listeners:
        name, protocol, hostname = listener["name"], listener["protocol"], listener.get("hostname")
        assert len(name) <= MAX_NAME, f"listener name over {MAX_NAME} characters: {name!r}"
        assert SECTION_NAME.match(name), f"bad listener name {name!r}"
        assert isinstance(listener["port"], int)
        assert 1 <= listener["port"] <= 65535
        if hostname is not None:
            assert len(hostname) <= MAX_NAME, hostname
            assert HOSTNAME.match(hostname), hostname
            assert not is_ip_address(hostname), hostname
        tls = listener.get("tls")
        if protocol in ("TCP", "UDP"):
            assert hostname is None, f"{name}: hostname on a {protocol} listener"
            assert tls is None, f"{name}: tls on a {protocol} listener"
        if protocol == "HTTP":
            assert tls is None, f"{name}: tls on an HTTP listener"
        if protocol == "HTTPS":
            assert tls is not None, f"{name}: HTTPS without tls"
            assert tls.get("mode") == "Terminate", name
            assert len(tls.get("certificateRefs") or ()) == 1, name
        if protocol == "TLS":
            assert tls is not None, f"{name}: TLS without tls"
            assert tls.get("mode") in ("Terminate", "Passthrough"), name
            refs = tls.get("certificateRefs") or ()
            assert len(refs) == (1 if tls["mode"] == "Terminate" else 0), name
        for ref in (tls or {}).get("certificateRefs") or ():
            assert ref.get("kind", "Secret") == "Secret"
            assert ref.get("group", "") == ""
            assert is_dns1123_subdomain(ref["name"]), f"bad Secret name {ref['name']!r}"
            secrets.append(ref["name"])
    assert len(set(secrets)) == len(secrets), f"a Secret is shared by listeners: {secrets}"

    for a, b in combinations(listeners, 2):
        assert not conflict(a, b), f"listeners conflict: {a['name']} and {b['name']}"


# --------------------------------------------------------------------------------------------
# The oracle: what each route asks of the WrappedGateway, and whether the policy allows it
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    """One (route, hostname, port) a route asks a WrappedGateway for, through one parentRef."""

    route: str  # "Kind namespace/name", as GeneratedListener.routes spells it
    kind: str
    namespace: str
    name: str
    port: int
    protocol: str
    hostname: str | None  # the listener's hostname: None on TCP/UDP
    label: str | None  # the hostname refusals name: the annotation's on TCP/UDP
    section_name: str | None
    # Every label of the claim's listener: a TCP/UDP route's hostnames all label its one
    # listener, so a refusal of any of them refuses the listener for all.
    listener_labels: tuple[str | None, ...] = ()

    @property
    def key(self) -> tuple[int, str, str | None]:
        return self.port, self.protocol, self.hostname


def route_id(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    metadata = obj["metadata"]
    return obj["kind"], metadata.get("namespace") or "default", metadata["name"]


def route_string(obj: Mapping[str, Any]) -> str:
    kind, namespace, name = route_id(obj)
    return f"{kind} {namespace}/{name}"


def valid_port(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def gateway_refs(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        ref
        for ref in obj["spec"].get("parentRefs") or ()
        if ref.get("group", GROUP) == GROUP and ref.get("kind", "Gateway") == "Gateway"
    ]


def gateway_api_refs(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        ref
        for ref in obj["spec"].get("parentRefs") or ()
        if ref.get("group", GROUP) == GROUP
        and ref.get("kind", "Gateway") in ("Gateway", "ListenerSet")
    ]


def targets(ref: Mapping[str, Any], route_namespace: str, target: tuple[str, str]) -> bool:
    return (ref.get("namespace") or route_namespace, ref["name"]) == target


def first_annotation(obj: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    annotations = obj["metadata"].get("annotations") or {}
    return next((annotations[n] for n in names if n in annotations), None)


def annotated_hostnames(obj: Mapping[str, Any]) -> list[str]:
    """A TCP/UDP route's names: its own annotation's (else gateway-route-sync's), and those of
    both external-dns annotations, comma-separated lists without empty items."""
    annotations = obj["metadata"].get("annotations") or {}
    texts = [first_annotation(obj, HOSTNAME_ANNOTATIONS[:2])]
    texts += [annotations.get(name) for name in HOSTNAME_ANNOTATIONS[2:]]
    return [h.strip() for text in texts if text for h in text.split(",") if h.strip()]


def annotated_ports(obj: Mapping[str, Any]) -> list[int] | None:
    """The ports annotation's ports; None when it is absent or malformed."""
    text = first_annotation(obj, PORTS_ANNOTATIONS)
    if text is None:
        return None
    items = [item.strip() for item in text.split(",")]
    if not all(re.fullmatch(r"[0-9]+", item) and valid_port(int(item)) for item in items):
        return None
    return sorted({int(item) for item in items})


def claims(obj: Mapping[str, Any], target: tuple[str, str]) -> list[Claim]:
    kind, namespace, name = route_id(obj)
    protocol = PROTOCOL_OF_KIND[kind]  # on every port but HTTP_PORT
    if kind in HOSTNAMED_KINDS:
        pairs: list[tuple[str | None, str | None]] = [
            (h, h) for h in dict.fromkeys(obj["spec"].get("hostnames") or ())
        ]
    else:
        labels: list[str | None] = [*annotated_hostnames(obj)] or [None]
        pairs = [(None, label) for label in dict.fromkeys(labels)]
    result = []
    for ref in gateway_refs(obj):
        if not targets(ref, namespace, target):
            continue
        if valid_port(ref.get("port")):
            ports = [ref["port"]]
        elif annotated := annotated_ports(obj):
            ports = annotated
        else:
            ports = [443] if protocol in ("HTTPS", "TLS") else []
        result.extend(
            Claim(
                route_string(obj),
                kind,
                namespace,
                name,
                port,
                protocol_on(kind, port),
                hostname,
                label,
                ref.get("sectionName") or None,
                (label,) if kind in HOSTNAMED_KINDS else tuple(label for _, label in pairs),
            )
            for port in ports
            for hostname, label in pairs
        )
    return result


def has_defect(obj: Mapping[str, Any]) -> bool:
    """Whether the route itself is malformed: it may contribute nothing at all."""
    text = first_annotation(obj, PORTS_ANNOTATIONS)
    if text is not None and annotated_ports(obj) is None:
        return True
    # A malformed ListenerSet parentRef spoils the route as much as a Gateway one does.
    if any("port" in ref and not valid_port(ref["port"]) for ref in gateway_api_refs(obj)):
        return True
    mode = (obj["metadata"].get("annotations") or {}).get(TLS_MODE_ANNOTATION)
    if mode is not None:
        mode = mode.strip().lower()
        if mode not in ("terminate", "passthrough"):
            return True
        if mode == "passthrough" and obj["kind"] != "TLSRoute":
            return True
    return False


def tls_mode(obj: Mapping[str, Any]) -> str:
    mode = (obj["metadata"].get("annotations") or {}).get(TLS_MODE_ANNOTATION, "Terminate")
    return "Passthrough" if mode.strip().lower() == "passthrough" else "Terminate"


def selector_matches(selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or ():
        key, operator, values = (
            expression["key"],
            expression["operator"],
            expression.get("values") or [],
        )
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not ok:
            return False
    return True


def oracle_namespace_allowed(
    wrapped: Mapping[str, Any], namespace: str, labels: Mapping[str, Mapping[str, str]]
) -> bool:
    policy = (wrapped["spec"].get("routes") or {}).get("namespaces") or {}
    source = policy.get("from", "Same")
    if source == "All":
        return True
    if source == "Same":
        return namespace == wrapped["metadata"]["namespace"]
    return selector_matches(
        policy["selector"], {**labels.get(namespace, {}), NAME_LABEL: namespace}
    )


def oracle_covers(pattern: str, hostname: str) -> bool:
    """Gateway API wildcard semantics, label by label."""
    if not pattern.startswith("*."):
        return pattern == hostname
    suffix = pattern.split(".")[1:]
    labels = hostname.split(".")
    if hostname.startswith("*."):
        rest = labels[1:]
        return len(rest) >= len(suffix) and rest[len(rest) - len(suffix) :] == suffix
    return len(labels) > len(suffix) and labels[len(labels) - len(suffix) :] == suffix


def oracle_overlap(a: str, b: str) -> bool:
    """Whether some name matches both patterns."""
    return oracle_covers(a, b) or oracle_covers(b, a)


def held_hostnames(scenario: Scenario, result: DesiredGateway) -> list[tuple[str, str]]:
    """(hostname, namespace) of every hostname the Gateway serves or shows: generated
    listeners, the TCP/UDP hostnames in the annotation, and static listeners (the platform
    team's, in the WrappedGateway's namespace)."""
    held = [(g.key.hostname, g.owner_namespace) for g in result.listeners if g.key.hostname]
    held += [(h, g.owner_namespace) for g in result.listeners for h in g.route_hostnames]
    own = scenario.wrapped["metadata"]["namespace"]
    held += [
        (s["hostname"], own)
        for s in scenario.wrapped["spec"].get("listeners") or ()
        if "hostname" in s
    ]
    return held  # type: ignore[return-value]


def oracle_hostname_ok(wrapped: Mapping[str, Any], hostname: str, namespace: str) -> bool:
    if not (0 < len(hostname) <= MAX_NAME and HOSTNAME.fullmatch(hostname)):
        return False
    if is_ip_address(hostname) or any(len(label) > 63 for label in hostname.split(".")):
        return False
    # what browsers read as an IPv4 address: a numeric last label, decimal or hex
    if re.fullmatch(r"[0-9]+|0x[0-9a-f]*", hostname.rsplit(".", 1)[-1]):
        return False
    allow = (wrapped["spec"].get("routes") or {}).get("hostnames")
    return allow is None or any(
        oracle_covers(pattern.replace("{namespace}", namespace), hostname) for pattern in allow
    )


def oracle_allows(scenario: Scenario, obj: Mapping[str, Any], claim: Claim) -> bool:
    """Whether the route may have this claim's listener, conflicts and the limit aside."""
    if has_defect(obj) or not oracle_namespace_allowed(
        scenario.wrapped, claim.namespace, scenario.labels
    ):
        return False
    # On TCP/UDP the label is the hostname annotation: a refused one refuses the route.
    return claim.label is None or oracle_hostname_ok(scenario.wrapped, claim.label, claim.namespace)


def refused(result: DesiredGateway, claim: Claim) -> list[str]:
    """The reasons of the refusals that name this claim (the whole route, its hostname or port)."""
    return [
        r.reason
        for r in result.refusals
        if (r.kind, r.namespace, r.name) == (claim.kind, claim.namespace, claim.name)
        and (r.hostname is None or r.hostname in claim.listener_labels)
        and (r.port is None or claim.port in r.ports)
    ]


def static_keys(scenario: Scenario) -> set[tuple[int, str, str | None]]:
    return {listener_key(s) for s in scenario.wrapped["spec"].get("listeners") or ()}


def static_names(scenario: Scenario) -> set[str]:
    return {s["name"] for s in scenario.wrapped["spec"].get("listeners") or ()}


# --------------------------------------------------------------------------------------------
# (a) Independence of input order
# --------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_desired_gateway_is_independent_of_route_order(
    scenario: Scenario, data: st.DataObject
) -> None:
    expected = desired(scenario)
    shuffled = data.draw(st.permutations(scenario.routes), label="shuffled routes")
    actual = desired(scenario, shuffled)
    assert actual.gateway == expected.gateway
    assert to_yaml([actual.gateway] if actual.gateway else []) == to_yaml(
        [expected.gateway] if expected.gateway else []
    )
    assert actual.refusals == expected.refusals
    assert [(g.name, g.key, g.owner_namespace, g.kinds, g.routes) for g in actual.listeners] == [
        (g.name, g.key, g.owner_namespace, g.kinds, g.routes) for g in expected.listeners
    ]


GATEWAY_SETS = st.lists(st.sampled_from(GATEWAY_TARGETS), min_size=1, max_size=3, unique=True)
RENDER_ROUTE_ROWS = route_rows(max_routes=16)
CONTESTED_RENDER_ROWS = route_rows(
    st.sampled_from(("a.example.com", "*.example.com", "k.example.com")), max_routes=16
)


@st.composite
def document_sets(draw: st.DrawFn) -> list[Document]:
    """WrappedGateways, routes, Namespaces and an unrelated object, as `render` reads them."""
    gateways = draw(GATEWAY_SETS)
    contested = draw(st.booleans(), label="contested")  # see CONTESTED_ROWS
    fields = contested_wrapped_fields if contested else wrapped_fields
    objects: list[dict[str, Any]] = [
        build_wrapped_gateway(ns, name, draw(fields)) for ns, name in gateways
    ]
    targets = (*gateways, ("team-b", "other"))
    rows = draw(CONTESTED_RENDER_ROWS if contested else RENDER_ROUTE_ROWS)
    objects += [build_route(ident, fields, targets) for ident, fields in rows]
    for namespace, labels in draw(namespace_labels).items():
        metadata: dict[str, Any] = {"name": namespace}
        if labels:
            metadata["labels"] = labels
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": metadata})
    if draw(st.booleans()):
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "x", "namespace": "infra"},
            }
        )
    return [Document(f"generated.yaml (document {i})", obj) for i, obj in enumerate(objects, 1)]


def rendered_output(documents: list[Document]) -> tuple[str, list[str]]:
    rendered = render(documents)
    gateways = [g.gateway for g in rendered.gateways if g.gateway is not None]
    return to_yaml(gateways), rendered.diagnostics


@PROPERTY_SETTINGS
@given(documents=document_sets(), data=st.data())
def test_render_yaml_is_byte_identical_whatever_the_document_order(
    documents: list[Document], data: st.DataObject
) -> None:
    expected_yaml, expected_lines = rendered_output(documents)
    shuffled = data.draw(st.permutations(documents), label="shuffled documents")
    actual_yaml, actual_lines = rendered_output(shuffled)
    assert actual_yaml == expected_yaml
    # stderr carries the same lines; only "skipped" notes follow the input's order
    assert sorted(actual_lines) == sorted(expected_lines)


def render_outcome(documents: list[Document]) -> str:
    """render's stdout, or the kind of error it stops with (its message names a file)."""
    try:
        return rendered_output(documents)[0]
    except ManifestError:
        return "ManifestError"


@PROPERTY_SETTINGS
@given(documents=document_sets(), data=st.data())
def test_render_is_order_independent_when_a_route_comes_in_two_served_versions(
    documents: list[Document], data: st.DataObject
) -> None:
    """One route read twice (`kubectl get httproutes.v1,httproutes.v1beta1`, two files, ...)."""
    twins = [d for d in documents if d.kind in SERVED_VERSIONS and len(SERVED_VERSIONS[d.kind]) > 1]
    if not twins:
        return
    original = data.draw(st.sampled_from(twins), label="route given twice").obj
    version = original["apiVersion"].rpartition("/")[2]
    other = next(v for v in SERVED_VERSIONS[original["kind"]] if v != version)
    twin = {**original, "apiVersion": f"{GROUP}/{other}", "spec": dict(original["spec"])}
    if data.draw(st.booleans(), label="same listeners, named differently"):
        refs = original["spec"]["parentRefs"]
        twin["spec"]["parentRefs"] = [{**ref, "sectionName": "twin"} for ref in refs]
    elif original["kind"] in HOSTNAMED_KINDS:
        twin["spec"]["hostnames"] = ["twin.example.com"]
    else:
        twin["metadata"] = {**original["metadata"], "annotations": {PORTS_ANNOTATIONS[0]: "7000"}}
    documents = [*documents, Document("twin.yaml (document 1)", twin)]
    shuffled = data.draw(st.permutations(documents), label="shuffled documents")
    assert render_outcome(shuffled) == render_outcome(documents)


# --------------------------------------------------------------------------------------------
# (b) Every emitted Gateway is one the API server accepts and no implementation finds conflicted
# --------------------------------------------------------------------------------------------


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_every_emitted_gateway_satisfies_the_listener_rules(scenario: Scenario) -> None:
    result = desired(scenario)
    statics = scenario.wrapped["spec"].get("listeners") or []
    if result.gateway is None:
        assert not statics
        assert not result.listeners
        return
    assert_valid_gateway(result.gateway)
    assert result.gateway["metadata"]["name"] == scenario.wrapped["metadata"]["name"]
    assert result.gateway["metadata"]["namespace"] == scenario.wrapped["metadata"]["namespace"]
    listeners = result.gateway["spec"]["listeners"]
    assert listeners[: len(statics)] == statics, "static listeners are copied verbatim, first"
    assert len(listeners) == len(statics) + len(result.listeners)


@PROPERTY_SETTINGS
@given(documents=document_sets())
def test_every_gateway_render_emits_satisfies_the_listener_rules(documents: list[Document]) -> None:
    rendered = render(documents)
    keys = [g.key for g in rendered.gateways]
    assert keys == sorted(keys), "Gateways are ordered by namespace/name"
    for desired_ in rendered.gateways:
        if desired_.gateway is not None:
            assert_valid_gateway(desired_.gateway)


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_generated_listeners_admit_only_their_owner_namespace_and_route_kinds(
    scenario: Scenario,
) -> None:
    result = desired(scenario)
    manifests = {
        m["name"]: m for m in (result.gateway or {"spec": {"listeners": []}})["spec"]["listeners"]
    }
    wrapped_namespace = scenario.wrapped["metadata"]["namespace"]
    for listener in result.listeners:
        manifest = manifests[listener.name]
        assert listener_key(manifest) == (
            listener.key.port,
            listener.key.protocol,
            listener.key.hostname,
        )
        allowed = manifest["allowedRoutes"]
        if listener.owner_namespace == wrapped_namespace:
            assert allowed["namespaces"] == {"from": "Same"}
        else:
            assert allowed["namespaces"] == {
                "from": "Selector",
                "selector": {"matchLabels": {NAME_LABEL: listener.owner_namespace}},
            }
        kinds = {k["kind"] for k in allowed["kinds"]}
        assert all(k["group"] == GROUP for k in allowed["kinds"])
        assert kinds == {str(kind) for kind in listener.kinds}
        assert kinds <= KINDS_OF_PROTOCOL[manifest["protocol"]]


# --------------------------------------------------------------------------------------------
# (c) Coverage: every allowed hostname exactly once, nothing unjustified, nothing vanishing
# --------------------------------------------------------------------------------------------


# Found by CI: a TCPRoute labelled with two hostnames, one of them another namespace's, is
# refused as a whole (its one listener carries both labels), naming only the conflicting one.
TCP_ROUTE_WITH_ONE_TAKEN_LABEL = Scenario(
    wrapped={
        "apiVersion": WRAPPED_API_VERSION,
        "kind": "WrappedGateway",
        "metadata": {"name": "edge", "namespace": "infra"},
        "spec": {"gatewayClassName": "example", "routes": {"namespaces": {"from": "All"}}},
    },
    routes=[
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "r4", "namespace": "infra", "creationTimestamp": TIMESTAMPS[0]},
            "spec": {"parentRefs": [{"name": "edge"}], "hostnames": ["a.example.com"]},
        },
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "TCPRoute",
            "metadata": {
                "name": "r4",
                "namespace": "team-a",
                "creationTimestamp": TIMESTAMPS[0],
                "annotations": {
                    "wrapped-gateway.dev/ports": "8443",
                    "wrapped-gateway.dev/hostname": "a.example.com,b.example.com",
                },
            },
            "spec": {"parentRefs": [{"name": "edge", "namespace": "infra"}]},
        },
    ],
    labels={"infra": {}, "team-a": {}},
)


@PROPERTY_SETTINGS
@given(scenario=scenarios())
@example(scenario=TCP_ROUTE_WITH_ONE_TAKEN_LABEL)
def test_every_claim_is_served_by_exactly_one_listener_or_refused(scenario: Scenario) -> None:
    result = desired(scenario)
    listeners = (result.gateway or {"spec": {"listeners": []}})["spec"]["listeners"]
    generated = {g.name: g for g in result.listeners}
    statics = static_names(scenario)
    for obj in scenario.routes:
        for claim in claims(obj, scenario.target):
            reasons = refused(result, claim)
            if claim.section_name in statics:
                continue  # attaches to the platform team's listener by name; generates nothing
            serving = [m for m in listeners if listener_key(m) == claim.key]
            attached = [
                m
                for m in serving
                if m["name"] not in generated or claim.route in generated[m["name"]].routes
            ]
            if not reasons:
                assert len(serving) == 1, f"{claim} is neither refused nor served once: {serving}"
                assert attached, f"{claim} is neither refused nor attached to {serving[0]['name']}"
                if claim.section_name is not None:
                    assert attached[0]["name"] == claim.section_name, (
                        "sectionName names the listener"
                    )
            if not oracle_allows(scenario, obj, claim):
                assert reasons, f"{claim} is disallowed yet not refused"
                assert not [m for m in attached if m["name"] in generated], (
                    f"{claim} is disallowed yet served"
                )


# Found by CI: a malformed ListenerSet parentRef beside a good Gateway parentRef refuses the route
# as malformed, so the hostname it also asks for is not checked on its own.
MALFORMED_LISTENER_SET_REF = Scenario(
    wrapped={
        "apiVersion": WRAPPED_API_VERSION,
        "kind": "WrappedGateway",
        "metadata": {"name": "edge", "namespace": "infra"},
        "spec": {
            "gatewayClassName": "example",
            "routes": {"namespaces": {"from": "All"}, "hostnames": ["example.com"]},
        },
    },
    routes=[
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": "r1", "namespace": "infra", "creationTimestamp": TIMESTAMPS[0]},
            "spec": {
                "parentRefs": [
                    {"name": "edge"},
                    {"name": "edge", "namespace": "infra", "kind": "ListenerSet", "port": 0},
                ],
                "hostnames": ["a.example.com"],
            },
        }
    ],
    labels={"infra": {}},
)


@PROPERTY_SETTINGS
@given(scenario=scenarios())
@example(scenario=MALFORMED_LISTENER_SET_REF)
def test_every_route_is_either_served_or_refused(scenario: Scenario) -> None:
    result = desired(scenario)
    refused_routes = {(r.kind, r.namespace, r.name) for r in result.refusals}
    attached = {route for g in result.listeners for route in g.routes}
    statics_by_key = static_keys(scenario)
    statics = static_names(scenario)
    for obj in scenario.routes:
        ident, namespace = route_id(obj), route_id(obj)[1]
        ours = [ref for ref in gateway_refs(obj) if targets(ref, namespace, scenario.target)]
        if not ours:
            assert ident not in refused_routes, "a route for another Gateway is not ours to refuse"
            assert route_string(obj) not in attached
            continue
        via_static = any(ref.get("sectionName") in statics for ref in ours) or any(
            c.key in statics_by_key for c in claims(obj, scenario.target)
        )
        assert ident in refused_routes or route_string(obj) in attached or via_static, (
            f"{route_string(obj)} targets the WrappedGateway but vanished"
        )
        if all(ref.get("sectionName") in statics for ref in ours):
            # It attaches to listeners the platform team wrote: their allowedRoutes decide,
            # and it asks nothing of the WrappedGateway's policy.
            assert not has_defect(obj) or ident in refused_routes
            assert route_string(obj) not in attached
            continue
        if has_defect(obj) or not oracle_namespace_allowed(
            scenario.wrapped, namespace, scenario.labels
        ):
            assert ident in refused_routes, f"{route_string(obj)} is disallowed yet not refused"
            assert route_string(obj) not in attached, (
                f"{route_string(obj)} is disallowed yet served"
            )
            continue
        # A hostname no listener may carry is named in a refusal, whatever the ports.
        labels = [c.label for c in claims(obj, scenario.target)]
        if obj["kind"] in HOSTNAMED_KINDS:
            labels += obj["spec"].get("hostnames") or []
        for label in labels:
            if label is not None and not oracle_hostname_ok(scenario.wrapped, label, namespace):
                assert any(
                    r.hostname == label and (r.kind, r.namespace, r.name) == ident
                    for r in result.refusals
                ), f"{route_string(obj)}: hostname {label!r} vanished without a refusal"


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_every_generated_listener_is_justified_by_a_route_that_may_have_it(
    scenario: Scenario,
) -> None:
    result = desired(scenario)
    by_string = {route_string(obj): obj for obj in scenario.routes}
    for listener in result.listeners:
        key = (listener.key.port, listener.key.protocol, listener.key.hostname)
        assert listener.routes, f"listener {listener.name} serves no route"
        for route in listener.routes:
            obj = by_string[route]
            matching = [c for c in claims(obj, scenario.target) if c.key == key]
            assert matching, f"{route} never asked for {key}"
            assert any(oracle_allows(scenario, obj, c) for c in matching), (
                f"{route} may not have {key}"
            )
            assert route_id(obj)[1] == listener.owner_namespace, "a listener serves one namespace"
            assert any(c.section_name in (None, listener.name) for c in matching)
        assert {str(k) for k in listener.kinds} == {r.split(" ")[0] for r in listener.routes}
        modes = {tls_mode(by_string[route]) for route in listener.routes}
        if listener.key.protocol in ("HTTPS", "TLS"):
            assert modes == {str(listener.tls_mode)}, "routes of one listener agree on its TLS mode"
        elif listener.key.protocol == "HTTP":
            assert listener.tls_mode is None
            assert not listener.route_hostnames
        else:
            labels = {
                c.label for r in listener.routes for c in claims(by_string[r], scenario.target)
            }
            assert listener.route_hostnames == labels - {None}, "TCP/UDP hostnames are shown"


@PROPERTY_SETTINGS
@given(scenario=scenarios(), data=st.data())
def test_routes_attaching_to_static_listeners_by_name_need_no_hostnames_or_ports(
    scenario: Scenario, data: st.DataObject
) -> None:
    """A sectionName naming a static listener generates nothing, so it asks for nothing."""
    statics = static_names(scenario)
    if statics:
        # e.g. an HTTP-to-HTTPS redirect on the static `http` listener: no hostnames, no port
        namespace, gateway = scenario.target
        kind = data.draw(st.sampled_from(tuple(PROTOCOL_OF_KIND)), label="attacher kind")
        section = data.draw(st.sampled_from(sorted(statics)), label="static listener")
        attacher = {
            "apiVersion": f"{GROUP}/v1",
            "kind": kind,
            "metadata": {"name": "attacher", "namespace": namespace},
            "spec": {"parentRefs": [{"name": gateway, "sectionName": section}]},
        }
        scenario = Scenario(scenario.wrapped, [*scenario.routes, attacher], scenario.labels)
    result = desired(scenario)
    by_id = {route_id(obj): obj for obj in scenario.routes}
    for refusal in result.refusals:
        if refusal.reason not in ("NoHostnames", "MissingPorts"):
            continue
        obj = by_id[(refusal.kind, refusal.namespace, refusal.name)]
        ours = [
            ref for ref in gateway_refs(obj) if targets(ref, refusal.namespace, scenario.target)
        ]
        named = [ref.get("sectionName") for ref in ours]
        assert any(name not in statics for name in named), (
            f"{refusal}: but every parentRef names a static listener: {named}"
        )


def precedence(obj: Mapping[str, Any]) -> tuple[int, datetime, str, str]:
    value = obj["metadata"].get("creationTimestamp")
    created: datetime | None = None
    if isinstance(value, datetime):
        created = value
    elif isinstance(value, str):
        try:
            created = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            created = None
    kind, namespace, name = route_id(obj)
    # the Gateway API orders ties by the string "{namespace}/{name}"
    if created is None:
        return 1, datetime.min.replace(tzinfo=UTC), f"{namespace}/{name}", kind
    return 0, created, f"{namespace}/{name}", kind


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_conflict_refusals_are_justified_by_the_gateway_that_won(scenario: Scenario) -> None:
    result = desired(scenario)
    listeners = (result.gateway or {"spec": {"listeners": []}})["spec"]["listeners"]
    generated = {g.name: g for g in result.listeners}
    by_id = {route_id(obj): obj for obj in scenario.routes}
    for refusal in result.refusals:
        obj = by_id[(refusal.kind, refusal.namespace, refusal.name)]
        protocol = protocol_on(refusal.kind, refusal.port or 0)
        key = (
            refusal.port,
            protocol,
            refusal.hostname if refusal.kind in HOSTNAMED_KINDS else None,
        )
        same_key = [m for m in listeners if listener_key(m) == key]
        if refusal.reason == "TooManyListeners":
            assert len(listeners) == MAX_LISTENERS
            # the oldest routes keep theirs: every generated listener came from a route no younger
            for listener in result.listeners:
                assert min(precedence(by_id_of(by_id, r)) for r in listener.routes) <= precedence(
                    obj
                )
        elif (
            refusal.reason == "HostnameConflict"
            and refusal.hostname is not None
            and any(
                oracle_overlap(refusal.hostname, hostname) and namespace != refusal.namespace
                for hostname, namespace in held_hostnames(scenario, result)
            )
        ):
            pass  # another namespace holds an overlapping hostname, on some port
        elif refusal.reason in ("HostnameConflict", "PortConflict"):
            assert any(
                m["name"] in generated and generated[m["name"]].owner_namespace != refusal.namespace
                for m in same_key
            ) or any(
                listener_key(m) != key
                and conflict(m, {"port": key[0], "protocol": protocol, "hostname": key[2]})
                for m in listeners
            ), f"{refusal} names no listener that beat it"
        elif refusal.reason == "TLSModeConflict":
            assert any(m.get("tls", {}).get("mode") != tls_mode(obj) for m in same_key), str(
                refusal
            )
        elif refusal.reason == "SectionNameConflict":
            sections = {ref.get("sectionName") for ref in gateway_refs(obj)}
            assert same_key or any(m["name"] in sections for m in listeners), str(refusal)


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_no_namespace_ever_holds_a_hostname_overlapping_another_namespaces(
    scenario: Scenario,
) -> None:
    """Whoever claimed first, two namespaces never share a name on one Gateway, on any port:
    no more specific listener, no wildcard over another's name, no TCP/UDP hostname."""
    result = desired(scenario)
    if result.gateway is not None:
        assert_valid_gateway(result.gateway)
    for (a, owner_a), (b, owner_b) in combinations(held_hostnames(scenario, result), 2):
        if owner_a != owner_b:
            assert not oracle_overlap(a, b), f"{owner_a} holds {a} and {owner_b} holds {b}"


@PROPERTY_SETTINGS
@given(scenario=scenarios())
def test_the_older_claim_keeps_an_overlapping_hostname(scenario: Scenario) -> None:
    """A hostname refused for overlap overlaps one another namespace claimed no later."""
    result = desired(scenario)
    by_id = {route_id(obj): obj for obj in scenario.routes}
    own = scenario.wrapped["metadata"]["namespace"]
    for refusal in result.refusals:
        if refusal.reason != "HostnameConflict" or refusal.hostname is None:
            continue
        loser = precedence(by_id[(refusal.kind, refusal.namespace, refusal.name)])
        holders = [
            g
            for g in result.listeners
            if g.owner_namespace != refusal.namespace
            and any(
                oracle_overlap(refusal.hostname, h)
                for h in ({g.key.hostname} | g.route_hostnames) - {None}
            )
        ]
        static = [
            s
            for s in scenario.wrapped["spec"].get("listeners") or ()
            if "hostname" in s and oracle_overlap(refusal.hostname, s["hostname"])
        ]
        if static and refusal.namespace != own:
            continue  # the platform team's static listener holds it
        # the holder's claim is its namespace's oldest route on any overlapping listener
        oldest: dict[str, tuple[int, datetime, str, str]] = {}
        for listener in holders:
            for r in listener.routes:
                first = oldest.get(listener.owner_namespace)
                mine = precedence(by_id_of(by_id, r))
                oldest[listener.owner_namespace] = mine if first is None else min(first, mine)
        if not oldest:
            continue  # a clash within the namespace (protocols on one port), justified elsewhere
        # (others may overlap it too, later: the refused hostname would have overlapped them)
        assert any(claimed <= loser for claimed in oldest.values()), (
            f"{refusal}: no namespace holding an overlapping hostname claimed it earlier"
        )


def by_id_of(by_id: Mapping[tuple[str, str, str], dict[str, Any]], route: str) -> dict[str, Any]:
    kind, _, rest = route.partition(" ")
    namespace, _, name = rest.partition("/")
    return by_id[(kind, namespace, name)]


@settings(PROPERTY_SETTINGS, max_examples=examples(60))  # each example is a dozen routes or more
@given(scenario=crowded_scenarios())
def test_the_64_listener_limit_keeps_the_oldest_routes_and_is_never_exceeded(
    scenario: Scenario,
) -> None:
    # Routes with up to four hostnames from a pool of a hundred: many Gateways hit the limit.
    result = desired(scenario)
    if result.gateway is not None:
        assert_valid_gateway(result.gateway)
    by_id = {route_id(obj): obj for obj in scenario.routes}
    capped = [r for r in result.refusals if r.reason == "TooManyListeners"]
    if capped:
        assert result.gateway is not None
        assert len(result.gateway["spec"]["listeners"]) == MAX_LISTENERS
    for refusal in capped:
        loser = precedence(by_id[(refusal.kind, refusal.namespace, refusal.name)])
        for listener in result.listeners:
            assert min(precedence(by_id_of(by_id, r)) for r in listener.routes) <= loser


@settings(PROPERTY_SETTINGS, max_examples=examples(60))
@given(scenario=crowded_scenarios(), quota=st.integers(min_value=1, max_value=MAX_LISTENERS))
def test_a_listener_quota_per_namespace_is_never_exceeded_and_keeps_the_oldest(
    scenario: Scenario, quota: int
) -> None:
    scenario.wrapped["spec"].setdefault("routes", {})["listenersPerNamespace"] = quota
    result = desired(scenario)
    if result.gateway is not None:
        assert_valid_gateway(result.gateway)
    held = Counter(listener.owner_namespace for listener in result.listeners)
    assert max(held.values(), default=0) <= quota
    by_id = {route_id(obj): obj for obj in scenario.routes}
    for refusal in (r for r in result.refusals if r.reason == "TooManyListeners"):
        gateway_full = result.gateway is not None and (
            len(result.gateway["spec"]["listeners"]) == MAX_LISTENERS
        )
        assert held[refusal.namespace] == quota or gateway_full, refusal
        if not gateway_full:
            # every listener of the namespace went to a route at least as old as the loser
            loser = precedence(by_id[(refusal.kind, refusal.namespace, refusal.name)])
            for listener in result.listeners:
                if listener.owner_namespace == refusal.namespace:
                    oldest = min(precedence(by_id_of(by_id, r)) for r in listener.routes)
                    assert oldest <= loser


PORT_POLICIES = st.dictionaries(
    st.sampled_from(("HTTPS", "TLS", "TCP", "UDP")),
    st.lists(st.sampled_from((443, 8443, "5000-5999", "53-80", 6443)), min_size=1, max_size=3),
    max_size=4,
)


def oracle_port_allowed(policy: Mapping[str, list[Any]], protocol: str, port: int) -> bool:
    if protocol not in policy:
        return True
    for item in policy[protocol]:
        low, _, high = str(item).partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False


@PROPERTY_SETTINGS
@given(scenario=scenarios(), policy=PORT_POLICIES)
def test_a_port_policy_keeps_every_protocol_to_its_ports_and_names_what_it_refuses(
    scenario: Scenario, policy: dict[str, list[Any]]
) -> None:
    scenario.wrapped["spec"].setdefault("routes", {})["ports"] = policy
    result = desired(scenario)
    if result.gateway is not None:
        assert_valid_gateway(result.gateway)
    for listener in result.listeners:
        assert oracle_port_allowed(policy, listener.key.protocol, listener.key.port), listener
    statics = static_names(scenario)
    for obj in scenario.routes:
        if has_defect(obj) or not oracle_namespace_allowed(
            scenario.wrapped, route_id(obj)[1], scenario.labels
        ):
            continue
        for claim in claims(obj, scenario.target):
            if claim.section_name in statics or claim.key in static_keys(scenario):
                continue
            if not oracle_port_allowed(policy, claim.protocol, claim.port):
                reasons = refused(result, claim)
                assert reasons, f"{claim} is outside the port policy yet not refused"


# --------------------------------------------------------------------------------------------
# Bad input is refused per route, never raised
# --------------------------------------------------------------------------------------------


# Texts that look like ports to str.isdigit() without being ASCII digits, among others.
port_texts = st.one_of(
    st.sampled_from(("8443", "8443,8444", "²", "443,²", "٤٤٣", "\uff11\uff12", "", " ", ",")),
    st.text(alphabet=st.sampled_from("0123456789, ²³¹٤١٢０-+ x"), max_size=8),
    st.text(max_size=8),
)


@PROPERTY_SETTINGS
@given(ports=port_texts, hostname=st.text(max_size=20), mode=st.text(max_size=12))
def test_any_annotation_text_is_refused_not_raised(ports: str, hostname: str, mode: str) -> None:
    """Annotations are arbitrary strings in the API; none may break the core or its output."""
    wrapped = parse_wrapped_gateway(
        {"metadata": {"name": "edge", "namespace": "infra"}, "spec": {"gatewayClassName": "x"}}
    )
    routes = [
        {
            "apiVersion": f"{GROUP}/v1",
            "kind": kind,
            "metadata": {
                "name": "r",
                "namespace": "infra",
                "annotations": {
                    PORTS_ANNOTATIONS[0]: ports,
                    HOSTNAME_ANNOTATIONS[0]: hostname,
                    TLS_MODE_ANNOTATION: mode,
                },
            },
            "spec": {"parentRefs": [{"name": "edge"}], "hostnames": [hostname]},
        }
        for kind in PROTOCOL_OF_KIND
    ]
    result = desired_gateway(wrapped, [parse_route(r) for r in routes], {})
    if result.gateway is not None:
        assert_valid_gateway(result.gateway)
    refused_routes = {r.kind for r in result.refusals}
    served = {kind for g in result.listeners for kind in g.kinds}
    assert refused_routes | served == set(PROTOCOL_OF_KIND), "every route is served or refused"


# What YAML makes of unquoted values: `render` reads files, where these are one typo away.
# The API server would reject them; `render` must refuse the route, not raise.
MISTYPED_ROUTE_FIELDS: tuple[tuple[str, Any], ...] = (
    ("ports annotation", 8443),
    ("tls-mode annotation", True),
    ("hostname annotation", 5432),
    ("sectionName", 6443),
    ("parentRef", "edge"),
    ("hostnames", "a.example.com"),
)


@PROPERTY_SETTINGS
@given(
    mistyped=st.sampled_from(MISTYPED_ROUTE_FIELDS),
    kind=st.sampled_from(tuple(PROTOCOL_OF_KIND)),
)
def test_render_refuses_a_mistyped_route_instead_of_raising(
    mistyped: tuple[str, Any], kind: str
) -> None:
    field, value = mistyped
    ref: Any = {"name": "edge", "port": 8443}
    annotations: dict[str, Any] = {}
    spec: dict[str, Any] = {"parentRefs": [ref], "hostnames": ["b.example.com"]}
    if field == "ports annotation":
        annotations[PORTS_ANNOTATIONS[0]] = value
    elif field == "tls-mode annotation":
        annotations[TLS_MODE_ANNOTATION] = value
    elif field == "hostname annotation":
        annotations[HOSTNAME_ANNOTATIONS[0]] = value
    elif field == "sectionName":
        ref["sectionName"] = value
    elif field == "parentRef":
        spec["parentRefs"] = [value, ref]
    else:
        spec["hostnames"] = value
    bad = {
        "apiVersion": f"{GROUP}/v1",
        "kind": kind,
        "metadata": {"name": "bad", "namespace": "infra", "annotations": annotations},
        "spec": spec,
    }
    good = {
        "apiVersion": f"{GROUP}/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "good", "namespace": "infra"},
        "spec": {"parentRefs": [{"name": "edge"}], "hostnames": ["a.example.com"]},
    }
    wrapped = build_wrapped_gateway("infra", "edge", ((), None, None, False))
    documents = [Document(f"x.yaml (document {i})", o) for i, o in enumerate((wrapped, good, bad))]
    rendered = render(documents)  # must not raise
    (gateway,) = rendered.gateways
    assert gateway.gateway is not None
    assert_valid_gateway(gateway.gateway)
    assert any(g.routes == {"HTTPRoute infra/good"} for g in gateway.listeners), "others unharmed"
    if field == "hostname annotation" and kind in HOSTNAMED_KINDS:
        return  # not read on this kind: the route is fine
    assert not [g.name for g in gateway.listeners if f"{kind} infra/bad" in g.routes], (
        f"a route with a mistyped {field} contributes listeners"
    )
    assert any(r.name == "bad" for r in gateway.refusals), f"a mistyped {field} is not refused"
