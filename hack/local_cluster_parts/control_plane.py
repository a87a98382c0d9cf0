"""The control plane: etcd, kube-apiserver and kube-controller-manager, on 127.0.0.1.

etcd and kube-apiserver listen on free ports (retried if one was taken meanwhile);
kube-apiserver runs with RBAC, client-certificate authentication only and a ServiceAccount
issuer. kube-controller-manager serves no port and runs only the controllers a cluster without
nodes needs (garbage collector, namespace, serviceaccount, clusterrole aggregation, root CA
publisher).
"""

from __future__ import annotations

import http.client
import json
from pathlib import Path

from .api import Api
from .cni import NODE_IP
from .pki import kubeconfig_yaml
from .processes import Component, Launch, State, start_process, start_with_retry, wait_for

# The Services' addresses; its first is the `kubernetes` Service's.
SERVICE_RANGE = "10.0.0.0/24"
KUBERNETES_SERVICE_IP = "10.0.0.1"


def _etcd_health(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        conn.request("GET", "/health")
        body = conn.getresponse().read()
    finally:
        conn.close()
    return bool(json.loads(body).get("health") == "true")


def start_etcd(state: State, etcd_bin: Path, timeout: float) -> Component:
    def argv(client: int, peer: int) -> list[str]:
        return [
            str(etcd_bin),
            "--name=local-cluster",
            f"--data-dir={state.dir / 'etcd-data'}",
            f"--listen-client-urls=http://127.0.0.1:{client}",
            f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=local-cluster=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync=true",
            "--log-level=warn",
            "--quota-backend-bytes=4294967296",
        ]

    comp = start_with_retry(
        state,
        Launch("etcd", argv, nports=2, ready=lambda c: _etcd_health(c.ports[0]), what="healthy"),
        timeout,
    )
    state.etcd = f"http://127.0.0.1:{comp.ports[0]}"
    return comp


def start_apiserver(
    state: State, apiserver_bin: Path, pki: Path, timeout: float, *, node: bool = False
) -> tuple[Component, Api]:
    """kube-apiserver on 127.0.0.1, or with ``node`` on the node's address.

    With a node, Pods reach it through the ``kubernetes`` Service, whose endpoint must be an
    address they can reach (loopback endpoints are refused): it listens on the node IP,
    advertises it (its endpoint reconciler keeps default/kubernetes pointing there), and
    reaches the kubelet there with a client certificate of its own.
    """
    address = NODE_IP if node else "127.0.0.1"

    def argv(port: int) -> list[str]:
        return [
            str(apiserver_bin),
            f"--etcd-servers={state.etcd}",
            f"--bind-address={address}",
            f"--advertise-address={address}",
            f"--secure-port={port}",
            f"--cert-dir={pki}",
            f"--tls-cert-file={pki / 'apiserver.crt'}",
            f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={pki / 'sa.pub'}",
            f"--service-account-signing-key-file={pki / 'sa.key'}",
            "--authorization-mode=RBAC",
            "--anonymous-auth=false",
            f"--service-cluster-ip-range={SERVICE_RANGE}",
            "--allow-privileged=true",
            "--profiling=false",
            *(node_flags if node else ["--endpoint-reconciler-type=none"]),
        ]

    node_flags = [
        "--endpoint-reconciler-type=lease",
        f"--kubelet-client-certificate={pki / 'apiserver-kubelet-client.crt'}",
        f"--kubelet-client-key={pki / 'apiserver-kubelet-client.key'}",
        "--kubelet-preferred-address-types=InternalIP",
    ]

    def server(c: Component) -> str:
        return f"https://{address}:{c.ports[0]}"

    comp = start_with_retry(
        state,
        Launch(
            "kube-apiserver",
            argv,
            nports=1,
            ready=lambda c: Api(server(c), pki).ready(),
            what="ready (/readyz)",
        ),
        timeout,
    )
    state.server = server(comp)
    state.save()
    return comp, Api(state.server, pki)


def start_controller_manager(
    state: State,
    kcm_bin: Path,
    api: Api,
    timeout: float,
    extra_controllers: tuple[str, ...] = (),
) -> Component:
    pki = state.dir / "pki"
    kubeconfig = pki / "controller-manager.kubeconfig"
    kubeconfig.write_text(kubeconfig_yaml(state.server, pki, "controller-manager"))
    comp = start_process(
        state,
        "kube-controller-manager",
        [
            str(kcm_bin),
            f"--kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--secure-port=0",
            "--leader-elect=false",
            "--controllers="
            + ",".join(
                (
                    "garbage-collector-controller",
                    "namespace-controller",
                    "serviceaccount-controller",
                    "clusterrole-aggregation-controller",
                    "root-ca-certificate-publisher-controller",
                    *extra_controllers,
                )
            ),
            f"--root-ca-file={pki / 'ca.crt'}",
            "--use-service-account-credentials=false",
        ],
        [],
    )
    # the serviceaccount controller creating "default" shows the controllers are running
    wait_for(
        comp,
        lambda: api.request("GET", "/api/v1/namespaces/default/serviceaccounts/default"),
        "ready (it created no default ServiceAccount)",
        timeout,
    )
    return comp
