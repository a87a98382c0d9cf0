"""The CRDs ``up`` installs, and waiting until the API server serves them.

The Gateway API CRDs come from the Go module cache (``gateway_api_crd_dir``: the release's
standard or experimental channel, never copied into this repository), followed by the
project's ``crds/`` and any others asked for; ``install_crds`` applies them and waits until
every CRD is Established and listed by discovery and ``/readyz`` is ok.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .api import Api, ApiError
from .build import VERSIONS_FILE, go_mod_download, load_versions
from .processes import Component, wait_for
from .reporting import ClusterError, log, timed


def load_manifests(paths: list[Path]) -> list[tuple[Path, dict[str, Any]]]:
    docs = []
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind"):
                if doc["kind"].endswith("List") and "items" in doc:
                    docs += [(path, item) for item in doc["items"]]
                else:
                    docs.append((path, doc))
    return docs


def manifest_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        return []
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in (".yaml", ".yml") and p.stem != "kustomization"
    )


def install_manifests(
    api: Api, files: list[Path], *, optional_kinds: tuple[str, ...] = ()
) -> list[str]:
    """Apply CRDs first, then everything else; return the CRD names applied."""
    docs = load_manifests(files)
    crds = [(p, d) for p, d in docs if d["kind"] == "CustomResourceDefinition"]
    others = [(p, d) for p, d in docs if d["kind"] != "CustomResourceDefinition"]
    names = []
    for path, doc in crds:
        try:
            api.apply(doc)
        except ApiError as e:
            raise ClusterError(
                f"applying CRD {doc['metadata']['name']} from {path} was "
                f"rejected by kube-apiserver: {e}"
            ) from None
        names.append(doc["metadata"]["name"])
    for path, doc in others:
        what = f"{doc['kind']} {doc['metadata'].get('name')} from {path}"
        try:
            api.apply(doc)
        except (ApiError, ClusterError) as e:
            if doc["kind"] in optional_kinds:
                log(f"warning: skipped {what}: {e}")
                continue
            raise ClusterError(f"applying {what} failed: {e}") from None
    return names


def crds_established(api: Api, names: list[str]) -> bool:
    """Every CRD is Established and each served version is listed by discovery."""
    for name in names:
        crd = api.request("GET", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{name}")
        conds = {c["type"]: c["status"] for c in crd.get("status", {}).get("conditions", [])}
        if conds.get("Established") != "True" or conds.get("NamesAccepted") != "True":
            return False
        spec = crd["spec"]
        for version in spec["versions"]:
            if not version.get("served"):
                continue
            try:
                doc = api.request("GET", f"/apis/{spec['group']}/{version['name']}")
            except ApiError as e:
                if e.status == 404:
                    return False
                raise
            if spec["names"]["plural"] not in {r["name"] for r in doc.get("resources", [])}:
                return False
    return True


def gateway_api_crd_dir(release: str, versions: dict[str, Any] | None = None) -> Path:
    """The Gateway API CRD directory (standard or experimental channel) in the module cache."""
    versions = versions or load_versions()
    gw = versions["gateway_api"]
    if release not in gw["releases"]:
        raise ClusterError(
            f"Gateway API {release} is not pinned in {VERSIONS_FILE} "
            f"(known: {', '.join(gw['releases'])})"
        )
    channel: str = gw["releases"][release]["channel"]
    info = go_mod_download(gw["module"], gw["releases"][release].get("version", release))
    crd_dir = Path(info["Dir"]) / "config" / "crd" / channel
    if not crd_dir.is_dir():
        raise ClusterError(f"{crd_dir} does not exist in the Gateway API {release} module")
    return crd_dir


def install_crds(
    api: Api, apiserver: Component, crd_dirs: list[Path], timings: dict[str, float], timeout: float
) -> list[str]:
    gw_dir, *project_dirs = crd_dirs
    try:
        with timed(f"install Gateway API CRDs ({gw_dir})", timings):
            names = install_manifests(
                api,
                manifest_files(gw_dir),
                optional_kinds=("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"),
            )
        with timed("install project CRDs", timings):
            for d in project_dirs:
                names += install_manifests(api, manifest_files(d))
    except ClusterError as e:
        raise ClusterError(f"{e}\n  (kube-apiserver log: {apiserver.log})") from None
    with timed("wait for CRDs Established", timings):
        wait_for(
            apiserver,
            lambda: crds_established(api, names),
            f"ready (CRDs not Established: {', '.join(names)})",
            timeout,
        )
        wait_for(apiserver, api.ready, "ready (/readyz)", timeout)
    return names
