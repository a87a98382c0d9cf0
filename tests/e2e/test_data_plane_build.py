"""How hack/local-cluster builds and configures the data plane (no cluster needed)."""

import argparse

import local_cluster
import pytest

pytestmark = pytest.mark.e2e

# the shape of Traefik v3.6's go.mod tail (plus a block form, which go.mod also allows)
TRAEFIK_GOMOD = """module github.com/traefik/traefik/v3

go 1.25.0

require sigs.k8s.io/gateway-api v1.4.0

replace (
\tgithub.com/abbot/go-http-auth => github.com/containous/go-http-auth v0.4.1-0.2020032411094
\tgithub.com/gorilla/mux => github.com/containous/mux v0.0.0-20250523120546-41b6ec3aed59
)

// ambiguous import: found package ... in multiple modules
exclude github.com/tencentcloud/tencentcloud-sdk-go v3.0.83+incompatible

exclude (
\texample.com/a v1.0.0 // a comment
\texample.com/b  v2.0.0+incompatible
)
"""


def test_the_build_module_repeats_excludes_as_well_as_replaces() -> None:
    assert local_cluster.module_excludes(TRAEFIK_GOMOD) == [
        "github.com/tencentcloud/tencentcloud-sdk-go v3.0.83+incompatible",
        "example.com/a v1.0.0",
        "example.com/b v2.0.0+incompatible",
    ]
    assert len(local_cluster.module_replaces(TRAEFIK_GOMOD)) == 2


def test_traefik_is_pinned_with_the_gateway_api_release_it_reads() -> None:
    versions = local_cluster.load_versions()
    traefik = versions["traefik"]
    assert "traefik" in local_cluster.BUILDABLE
    assert traefik["controller_name"] == "traefik.io/gateway-controller"
    # TLSRoute/TCPRoute v1alpha2 are served only by an experimental channel
    assert versions["gateway_api"]["releases"][traefik["gateway_api"]]["channel"] == (
        "experimental"
    )
    assert local_cluster._version_ldflags("traefik", traefik["version"]) == [
        f"-X github.com/traefik/traefik/v3/pkg/version.Version={traefik['version']}"
    ]


def test_data_plane_ports_option() -> None:
    assert local_cluster._port_list("8443,9443") == (8443, 9443)
    for bad in ("", "8443,8443", "0", "65536", "https"):
        with pytest.raises(argparse.ArgumentTypeError):
            local_cluster._port_list(bad)
