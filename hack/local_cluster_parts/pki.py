"""The throw-away PKI of a local cluster, made with the openssl command, and kubeconfigs.

``make_pki`` writes a CA, the API server's serving certificate, one client certificate per
client (admin, kube-controller-manager, cert-manager, Traefik, external-dns; all in
``system:masters``) and the ServiceAccount signing key; ``kubeconfig_yaml`` embeds them for one
of those clients.
"""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import yaml

from .reporting import ClusterError, run_checked


def _openssl(*args: str, cwd: Path) -> None:
    run_checked(["openssl", *args], cwd=cwd, what=f"openssl {args[0]}")


def make_pki(pki: Path, node_ips: tuple[str, ...] = ()) -> None:
    """CA, API server serving cert, client certs and the ServiceAccount signing key.

    ``node_ips`` (with a node: its address and the ``kubernetes`` Service's) are added to the
    API server's certificate, and the node's clients get certificates: the kubelet
    (``system:nodes``), kube-scheduler, kube-proxy, and the API server's own client of the
    kubelet (``pods/log``, ``exec``).
    """
    if shutil.which("openssl") is None:
        raise ClusterError("the 'openssl' command is not on PATH; it is needed for the PKI")
    pki.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(
        "req",
        "-x509",
        *ec,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "3650",
        "-subj",
        "/CN=local-cluster-ca",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        cwd=pki,
    )
    certs = {
        "apiserver": (
            "/CN=kube-apiserver",
            "serverAuth",
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
            "DNS:kubernetes.default,DNS:kubernetes.default.svc"
            + "".join(f",IP:{ip}" for ip in node_ips),
        ),
        "admin": ("/O=system:masters/CN=local-cluster-admin", "clientAuth", None),
        "controller-manager": (
            "/O=system:masters/CN=system:kube-controller-manager",
            "clientAuth",
            None,
        ),
        "cert-manager": ("/O=system:masters/CN=cert-manager", "clientAuth", None),
        "traefik": ("/O=system:masters/CN=traefik", "clientAuth", None),
        "external-dns": ("/O=system:masters/CN=external-dns", "clientAuth", None),
    }
    if node_ips:
        certs |= {
            "node": ("/O=system:nodes/CN=system:node:local-cluster-node", "clientAuth", None),
            "scheduler": ("/O=system:masters/CN=system:kube-scheduler", "clientAuth", None),
            "proxy": ("/O=system:masters/CN=system:kube-proxy", "clientAuth", None),
            "apiserver-kubelet-client": (
                "/O=system:masters/CN=kube-apiserver-kubelet-client",
                "clientAuth",
                None,
            ),
        }
    for name, (subj, usage, san) in certs.items():
        _openssl(
            "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subj, cwd=pki
        )
        ext = [
            f"extendedKeyUsage={usage}",
            "keyUsage=critical,digitalSignature,keyEncipherment",
            "basicConstraints=CA:FALSE",
        ]
        if san:
            ext.append(san)
        (pki / f"{name}.ext").write_text("\n".join(ext) + "\n")
        _openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "3650",
            "-sha256",
            "-extfile",
            f"{name}.ext",
            cwd=pki,
        )
    _openssl(
        "genpkey",
        "-algorithm",
        "RSA",
        "-pkeyopt",
        "rsa_keygen_bits:2048",
        "-out",
        "sa.key",
        cwd=pki,
    )
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
    for key in pki.glob("*.key"):
        key.chmod(0o600)


def kubeconfig_yaml(server: str, pki: Path, user: str) -> str:
    def b64(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    cfg = {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [
            {
                "name": "local-cluster",
                "cluster": {"server": server, "certificate-authority-data": b64("ca.crt")},
            }
        ],
        "users": [
            {
                "name": user,
                "user": {
                    "client-certificate-data": b64(f"{user}.crt"),
                    "client-key-data": b64(f"{user}.key"),
                },
            }
        ],
        "contexts": [
            {"name": "local-cluster", "context": {"cluster": "local-cluster", "user": user}}
        ],
        "current-context": "local-cluster",
    }
    return yaml.safe_dump(cfg, sort_keys=False)
