"""A tiny client of the local cluster's API server, on the standard library only, so that
``up`` needs nothing but Python and PyYAML. It authenticates with a client certificate of the
PKI (see ``pki``) and server-side-applies objects as field manager ``local-cluster``.
"""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse
from pathlib import Path
from typing import Any

from .reporting import ClusterError

FIELD_MANAGER = "local-cluster"


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


class Api:
    def __init__(self, server: str, pki: Path, user: str = "admin") -> None:
        url = urllib.parse.urlsplit(server)
        self.host = url.hostname or "127.0.0.1"
        self.port = url.port or 443
        self.ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.ctx.load_cert_chain(str(pki / f"{user}.crt"), str(pki / f"{user}.key"))
        self._discovery: dict[str, dict[str, tuple[str, bool]]] = {}

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        timeout: float = 10.0,
    ) -> Any:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=timeout)
        try:
            headers = {"Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = content_type
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read().decode(errors="replace")
        finally:
            conn.close()
        if resp.status >= 300:
            raise ApiError(resp.status, data)
        try:
            return json.loads(data)
        except json.JSONDecodeError:
            return data

    def ready(self) -> bool:
        return bool(self.request("GET", "/readyz") == "ok")

    def resource_for(self, api_version: str, kind: str) -> tuple[str, bool]:
        """(plural resource name, namespaced) for a kind, from discovery."""
        if api_version not in self._discovery:
            base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
            doc = self.request("GET", base)
            self._discovery[api_version] = {
                r["kind"]: (r["name"], r["namespaced"])
                for r in doc.get("resources", [])
                if "/" not in r["name"]
            }
        try:
            return self._discovery[api_version][kind]
        except KeyError:
            raise ClusterError(f"the API server does not serve {kind} in {api_version}") from None

    def apply(self, obj: dict[str, Any], namespace: str = "default") -> Any:
        """Server-side apply (force) of one object."""
        api_version, kind = obj["apiVersion"], obj["kind"]
        resource, namespaced = self.resource_for(api_version, kind)
        base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        name = obj["metadata"]["name"]
        if namespaced:
            ns = obj["metadata"].get("namespace", namespace)
            base += f"/namespaces/{ns}"
        path = f"{base}/{resource}/{name}?fieldManager={FIELD_MANAGER}&force=true"
        return self.request(
            "PATCH", path, json.dumps(obj).encode(), "application/apply-patch+yaml", timeout=30
        )
