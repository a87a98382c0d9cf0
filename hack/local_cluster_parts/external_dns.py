"""DNS publishing of ``up --with-external-dns``: external-dns writing into the Knot test zone.

external-dns (``sigs.k8s.io/external-dns``, built from its module) runs as a plain process
with a client-certificate kubeconfig, its rfc2136 provider pointed at the Knot server of
``knot.py`` (updates and AXFR from 127.0.0.1, no TSIG) and its TXT registry, so that it deletes
only the records it created. Which sources it reads is an option: ``crd`` (the DNSEndpoints
wrapped-gateway publishes: exactly the names it accepted) by default, or the Gateway API route
sources, which publish whatever route a Gateway implementation accepted, refused names
included (see docs/external-dns.md).

It syncs on every change it watches (``--events``, at most once a second) and every
``interval`` besides, so that a test sees a change within a few seconds.
"""

from __future__ import annotations

import http.client
import os
from pathlib import Path
from typing import Any

from .build import go_mod_download
from .crds import manifest_files
from .options import ClusterOptions
from .pki import kubeconfig_yaml
from .processes import Component, Launch, State, start_with_retry
from .reporting import ClusterError

# external-dns's default since v0.22; the older external-dns.alpha.kubernetes.io/ is read only
# when asked for with --annotation-prefix
DEFAULT_ANNOTATION_PREFIX = "external-dns.kubernetes.io/"
# The TXT registry's owner: external-dns deletes only records whose TXT names it
OWNER_ID = "local-cluster"
# The Gateway API route sources (each reads one route kind); "crd" reads DNSEndpoints
GATEWAY_ROUTE_SOURCES = (
    "gateway-httproute",
    "gateway-grpcroute",
    "gateway-tlsroute",
    "gateway-tcproute",
    "gateway-udproute",
)
SOURCES = ("crd", *GATEWAY_ROUTE_SOURCES)


def external_dns_crd_dir(versions: dict[str, Any]) -> Path:
    """external-dns's CRDs (DNSEndpoint, DNSRecord) in the Go module cache."""
    entry = versions["external_dns"]
    # its go directive needs the newer toolchain even to be downloaded by `go mod download`
    env = {**os.environ, "GOTOOLCHAIN": str(entry["go_toolchain"])}
    info = go_mod_download(entry["module"], entry["version"], env)
    crd_dir = Path(info["Dir"]) / str(entry["crd_dir"])
    if not manifest_files(crd_dir):
        raise ClusterError(f"no CRD manifests in {crd_dir} (external-dns {entry['version']})")
    return crd_dir


def _healthz(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/healthz")
        return conn.getresponse().status == 200
    finally:
        conn.close()


def external_dns_argv(
    binary: Path, kubeconfig: Path, dns_server: str, zone: str, options: ClusterOptions
) -> list[str]:
    """The command line, all but ``--metrics-address`` (a free port, chosen at start)."""
    host, port = dns_server.rsplit(":", 1)
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        *[f"--source={source}" for source in options.external_dns_sources],
        *(["--gateway-listener-sets"] if options.external_dns_listener_sets else []),
        f"--annotation-prefix={options.external_dns_annotation_prefix}",
        "--provider=rfc2136",
        f"--rfc2136-host={host}",
        f"--rfc2136-port={port}",
        f"--rfc2136-zone={zone}",
        "--rfc2136-insecure",
        "--rfc2136-axfr",
        f"--domain-filter={zone}",
        # sync: a name that is no longer published is deleted, not only left alone
        "--policy=sync",
        "--registry=txt",
        f"--txt-owner-id={OWNER_ID}",
        "--events",
        "--min-event-sync-interval=1s",
        f"--interval={options.external_dns_interval}",
        "--log-level=debug",
    ]


def start_external_dns(state: State, binary: Path, options: ClusterOptions) -> Component:
    """Start external-dns against the DNS server ``state.dns`` names; ready once /healthz
    answers and its first sync is logged."""
    dns_server, zone = state.dns["server"], state.dns["zone"]
    unknown = sorted(set(options.external_dns_sources) - set(SOURCES))
    if unknown or not options.external_dns_sources:
        raise ClusterError(f"external-dns sources must be some of {', '.join(SOURCES)}")
    pki = state.dir / "pki"
    kubeconfig = pki / "external-dns.kubeconfig"
    kubeconfig.write_text(kubeconfig_yaml(state.server, pki, "external-dns"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE_")}
    base = external_dns_argv(binary, kubeconfig, dns_server, zone, options)

    def argv(metrics: int) -> list[str]:
        # its metrics server defaults to :7979 on every interface
        return [*base, f"--metrics-address=127.0.0.1:{metrics}"]

    def ready(comp: Component) -> bool:
        return _healthz(comp.ports[0]) and _first_sync_logged(Path(comp.log))

    comp = start_with_retry(
        state,
        Launch(
            "external-dns",
            argv,
            nports=1,
            ready=ready,
            what="ready (/healthz, a first sync with the DNS server)",
            env=env,
        ),
        options.timeout,
    )
    state.external_dns = {
        "sources": list(options.external_dns_sources),
        "zone": zone,
        "annotation_prefix": options.external_dns_annotation_prefix,
        "listener_sets": options.external_dns_listener_sets,
    }
    state.save()
    return comp


def _first_sync_logged(log: Path) -> bool:
    text = log.read_text(errors="replace")
    return "All records are already up to date" in text or "Changes applied" in text
