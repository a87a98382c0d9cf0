"""How kopf is configured to run the controller's watches: the credentials it connects with,
and its settings, each changed from kopf's default for a reason given beside it."""

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import kopf
from kubernetes import client

from wrapped_gateway.controller.kube import LIST_PAGE


def kopf_connection(configuration: client.Configuration) -> kopf.ConnectionInfo:
    """The credentials of a kubernetes client configuration, as kopf takes them."""
    api_key = configuration.api_key or {}
    # kubeconfig and in-cluster loading store "Bearer <token>" under "BearerToken"; older
    # clients used "authorization"
    authorization = api_key.get("BearerToken") or api_key.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        scheme=scheme or None,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )


def kopf_settings() -> kopf.OperatorSettings:
    operator_settings = kopf.OperatorSettings()
    # Events are posted by the controller itself, deduplicated; kopf would post one per log line.
    operator_settings.posting.enabled = False
    # Leader election uses a Lease (see leader.py); kopf's peering needs its own CRDs.
    operator_settings.peering.standalone = True
    operator_settings.watching.server_timeout = 300
    operator_settings.watching.client_timeout = 330
    operator_settings.watching.connect_timeout = 10
    operator_settings.watching.reconnect_backoff = 1.0
    # kopf lists in one request by default: with many routes that one answer would be most of
    # the controller's memory at start-up.
    operator_settings.watching.chunk_size = LIST_PAGE
    # Only kopf's change handlers (on.create/update/field) read the last-handled state; its
    # default builds it for every event all the same, a deep copy of the whole object.
    operator_settings.persistence.diffbase_storage = NoDiffBase()
    operator_settings.networking.error_backoffs = RetryForever()
    # kopf's worker of an object lives on this long after the object's last event. At its
    # default (5 s) most workers of a whole listing are alive at once, and at a restart they
    # would hold most of the controller's memory.
    operator_settings.queueing.idle_timeout = 0.1
    return operator_settings


class NoDiffBase(kopf.DiffBaseStorage):
    """kopf's last-handled state, kept by nothing: only change handlers read it, and the
    controller registers none (every handler is an `on.event`), nor daemons or timers.

    kopf's default builds it for every watch event before it calls any handler: it deep-copies
    the object, annotations and managed fields included, and parses its annotation of the
    previous state: in a burst of route changes, a large share of the controller's CPU.
    """

    # kopf passes the arguments by name, so the signatures keep its names.
    def build(
        self,
        *,
        body: kopf.Body,  # noqa: ARG002
        extra_fields: Iterable[Any] | None = None,  # noqa: ARG002
    ) -> kopf.BodyEssence:
        return kopf.BodyEssence()

    def fetch(self, *, body: kopf.Body) -> kopf.BodyEssence | None:  # noqa: ARG002
        return None

    def store(
        self,
        *,
        body: kopf.Body,  # noqa: ARG002
        patch: kopf.Patch,  # noqa: ARG002
        essence: kopf.BodyEssence,  # noqa: ARG002
    ) -> None:
        return None


class RetryForever:
    """kopf's backoffs between attempts of a request, without a last attempt.

    kopf gives up after its eighth backoff (a minute in all), which would stop a watch for
    good while the API server is down a little longer, as in an upgrade; the relisting that
    follows a restarted watch is handled by `relist`.
    """

    def __iter__(self) -> Iterator[float]:
        yield from (1, 1, 2, 3, 5, 8, 13)
        yield from itertools.repeat(20.0)
