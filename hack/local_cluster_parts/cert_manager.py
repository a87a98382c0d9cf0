"""cert-manager's controllers, run by ``up --with-cert-manager``, and its CRDs.

The program is our own ``main`` in ``hack/cert-manager-controller/`` over cert-manager's public
packages (built as versions.json's ``cert_manager``); it runs with its own client certificate,
Gateway API support on and no webhook, and writes a ready file once its informer caches have
synced. Its ListenerSet certificate shim runs where the API server serves v1 ListenerSet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .api import Api, ApiError
from .build import go_mod_download, load_versions
from .crds import manifest_files
from .pki import kubeconfig_yaml
from .processes import Component, State, start_process, wait_for
from .reporting import ClusterError, log


def cert_manager_crd_dir(versions: dict[str, Any] | None = None) -> Path:
    """cert-manager's CRDs (plain YAML) in the Go module cache."""
    versions = versions or load_versions()
    cm = versions["cert_manager"]
    info = go_mod_download(cm["module"], cm["version"])
    crd_dir = Path(info["Dir"]) / str(cm["crd_dir"])
    if not manifest_files(crd_dir):
        raise ClusterError(f"no CRD manifests in {crd_dir} (cert-manager {cm['version']})")
    return crd_dir


def serves_listener_sets(api: Api) -> bool:
    """Whether the API server serves ``gateway.networking.k8s.io/v1`` ListenerSet.

    The same discovery check cert-manager makes before starting its ListenerSet shim (it exits
    when the shim is on and the kind is missing). Gateway API v1.5+ serves it in the standard
    channel; v1.4's experimental channel has only ``gateway.networking.x-k8s.io/v1alpha1``
    XListenerSet, which cert-manager v1.21 does not read.
    """
    try:
        doc = api.request("GET", "/apis/gateway.networking.k8s.io/v1")
    except ApiError as e:
        if e.status == 404:
            return False
        raise
    return any(r.get("kind") == "ListenerSet" for r in doc.get("resources", []))


def start_cert_manager(
    state: State,
    cm_bin: Path,
    timeout: float,
    *,
    listener_sets: bool,
    acme_http01_nameservers: tuple[str, ...] = (),
) -> Component:
    """Start our cert-manager controller program; ready once its informer caches synced.

    ``listener_sets`` also runs cert-manager's ListenerSet certificate shim, which upstream
    switches on with the alpha feature gate ``ListenerSets`` *and* the option
    ``--enable-gateway-api-listenerset``; the ready file then lists ``listenerset``.

    ``acme_http01_nameservers`` (``host:port``) are the DNS servers the ACME HTTP-01
    self-check resolves a challenge's name with, instead of the system resolver: cert-manager
    fetches ``http://<name>/.well-known/acme-challenge/<token>`` itself before it lets the ACME
    server validate, and a test's names resolve only in its own DNS server.
    """
    pki = state.dir / "pki"
    kubeconfig = pki / "cert-manager.kubeconfig"
    kubeconfig.write_text(kubeconfig_yaml(state.server, pki, "cert-manager"))
    ready_file = state.dir / "logs" / "cert-manager.ready"
    ready_file.unlink(missing_ok=True)
    listener_set_flags = (
        ["--enable-gateway-api-listenerset=true", "--feature-gates=ListenerSets=true"]
        if listener_sets
        else []
    )
    nameserver_flags = (
        [f"--acme-http01-solver-nameservers={','.join(acme_http01_nameservers)}"]
        if acme_http01_nameservers
        else []
    )
    comp = start_process(
        state,
        "cert-manager",
        [
            str(cm_bin),
            f"--kubeconfig={kubeconfig}",
            "--enable-gateway-api=true",
            *listener_set_flags,
            *nameserver_flags,
            "--cluster-resource-namespace=kube-system",
            f"--ready-file={ready_file}",
            "--v=2",
        ],
        [],
    )
    wait_for(comp, ready_file.exists, "ready (informer caches not synced)", timeout)
    return comp


def cert_manager_listener_sets(api: Api, wanted: bool | None, gateway_api: str) -> bool:
    """Decide whether cert-manager runs its ListenerSet shim: ``wanted``, or None for "if served".

    On by default wherever it can work: the shim only acts on ListenerSets whose parent Gateway
    (or they themselves) carry an issuer annotation, so clusters without ListenerSets behave
    as before, and ListenerSet mode gets its certificates as in a real installation with the
    gate on. Off where the API server does not serve v1 ListenerSet, where cert-manager would
    refuse to start.
    """
    served = serves_listener_sets(api)
    if wanted and not served:
        raise ClusterError(
            f"cert-manager's ListenerSet support needs gateway.networking.k8s.io/v1 ListenerSet, "
            f"which Gateway API {gateway_api} as installed here does not serve (cert-manager "
            "reads no x-k8s.io XListenerSet); use a Gateway API release of v1.5 or later"
        )
    listener_sets = served if wanted is None else wanted
    log(f"cert-manager: ListenerSet certificate shim {'on' if listener_sets else 'off'}")
    return listener_sets
