"""The data plane of ``up --with-data-plane``: Traefik, a real Gateway implementation.

Traefik runs as a plain process with only its kubernetesGateway provider, reading the cluster
out of cluster through its own client-certificate kubeconfig, for GatewayClass ``traefik``
(created here). It serves a Gateway listener only where one of its entryPoints has the
listener's port, so the entryPoints are fixed ports on 127.0.0.1 (``data_plane_ports`` of
``ClusterOptions``), not free ones.
"""

from __future__ import annotations

import http.client
import os
from pathlib import Path
from typing import Any

from .api import Api
from .options import ClusterOptions
from .pki import kubeconfig_yaml
from .processes import Component, Launch, State, port_in_use, start_with_retry
from .reporting import ClusterError, log

DATA_PLANE_GATEWAY_CLASS = "traefik"


def check_data_plane_ports(ports: tuple[int, ...]) -> None:
    busy = [p for p in ports if port_in_use(p)]
    if busy:
        raise ClusterError(
            f"the data plane needs 127.0.0.1:{', '.join(map(str, busy))}, in use by another "
            "process (hack/local-cluster up --data-plane-ports chooses others)"
        )


def _http_get(port: int, path: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", path)
        return conn.getresponse().read().decode(errors="replace")
    finally:
        conn.close()


def gateway_class_accepted(api: Api, name: str) -> bool:
    """The GatewayClass is Accepted by its controller, for its current generation."""
    obj = api.request("GET", f"/apis/gateway.networking.k8s.io/v1/gatewayclasses/{name}")
    generation = obj["metadata"].get("generation")
    return any(
        c["type"] == "Accepted"
        and c["status"] == "True"
        and c.get("observedGeneration") == generation
        for c in (obj.get("status") or {}).get("conditions", [])
    )


def start_traefik(
    state: State, traefik_bin: Path, api: Api, versions: dict[str, Any], options: ClusterOptions
) -> Component:
    """Start Traefik with its Gateway API provider; ready once it accepted our GatewayClass.

    One entryPoint per port of ``options.data_plane_ports`` (on 127.0.0.1): a Gateway
    listener is served only where an entryPoint has the listener's port. Traefik reads the
    cluster through its own client-certificate kubeconfig (``KUBECONFIG``), as an external
    client.

    Traefik v3.6 reads TLSRoute and TCPRoute only as v1alpha2, with its experimentalChannel
    option; that is turned on where the installed Gateway API channel serves v1alpha2.
    """
    ports = tuple(options.data_plane_ports)
    pki = state.dir / "pki"
    check_data_plane_ports(ports)
    channel = versions["gateway_api"]["releases"][state.gateway_api]["channel"]
    experimental_channel = channel == "experimental"
    if not experimental_channel:
        log(
            f"Gateway API {state.gateway_api} {channel}: Traefik runs without its "
            "experimentalChannel (it reads TLSRoute and TCPRoute only as v1alpha2, which this "
            "channel does not serve), so it serves HTTPRoute and GRPCRoute only"
        )
    controller_name = versions["traefik"]["controller_name"]
    api.apply(
        {
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "GatewayClass",
            "metadata": {"name": DATA_PLANE_GATEWAY_CLASS},
            "spec": {
                "controllerName": controller_name,
                "description": "Traefik, started by hack/local-cluster up --with-data-plane",
            },
        }
    )
    kubeconfig = pki / "traefik.kubeconfig"
    kubeconfig.write_text(kubeconfig_yaml(state.server, pki, "traefik"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE_")}
    env["KUBECONFIG"] = str(kubeconfig)

    def argv(ping: int) -> list[str]:
        return [
            str(traefik_bin),
            "--global.checkNewVersion=false",
            "--global.sendAnonymousUsage=false",
            "--log.level=INFO",
            "--log.noColor=true",
            "--accesslog=true",
            f"--entryPoints.traefik.address=127.0.0.1:{ping}",
            "--ping=true",
            "--ping.entryPoint=traefik",
            *[f"--entryPoints.port-{p}.address=127.0.0.1:{p}" for p in ports],
            "--providers.kubernetesgateway=true",
            f"--providers.kubernetesgateway.experimentalChannel={str(experimental_channel).lower()}",
            "--providers.kubernetesgateway.statusAddress.ip=127.0.0.1",
        ]

    def ready(comp: Component) -> bool:
        return _http_get(comp.ports[0], "/ping") == "OK" and gateway_class_accepted(
            api, DATA_PLANE_GATEWAY_CLASS
        )

    comp = start_with_retry(
        state,
        Launch(
            "traefik",
            argv,
            nports=1,
            ready=ready,
            what=f"ready (/ping, GatewayClass {DATA_PLANE_GATEWAY_CLASS} Accepted)",
            env=env,
        ),
        options.timeout,
    )
    state.data_plane = {
        "gateway_class": DATA_PLANE_GATEWAY_CLASS,
        "controller_name": controller_name,
        "ports": list(ports),
        "experimental_channel": experimental_channel,
    }
    state.save()
    return comp
