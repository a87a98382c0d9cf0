"""One reconcile of one WrappedGateway: index in, Gateway, status and Events out."""

import asyncio
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import ApiException

from wrapped_gateway.controller import metrics
from wrapped_gateway.controller.drift import APPLIED_DIGEST_ANNOTATION, needs_apply, with_digest
from wrapped_gateway.controller.events import EventLedger, refusal_event
from wrapped_gateway.controller.index import ClusterIndex, Key, WrappedEntry
from wrapped_gateway.controller.kube import KubeApi
from wrapped_gateway.controller.status import Outcome, Verdict, status_for
from wrapped_gateway.listeners import DesiredGateway, desired_gateway
from wrapped_gateway.routes import Route

log = logging.getLogger(__name__)


class Reconciler:
    """Reads the index, never writes it.

    What this reconciler last applied (the Gateway's digest) and last wrote (the status) is
    remembered per key until the watch shows that object again, so that a reconcile that runs
    before the watch event of its own write arrives does not write the same thing again. It
    is remembered from before the write is sent, since the watch event may arrive before the
    API call returns; any watch event of the object makes the index the reference again, as
    it then holds the write or something newer (someone else's change).
    """

    def __init__(
        self,
        index: ClusterIndex,
        api: KubeApi,
        ledger: EventLedger | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._index = index
        self._api = api
        self._ledger = ledger or EventLedger()
        self._clock = clock
        self._refusals_by_gateway: dict[Key, dict[str, int]] = {}
        self._applied_digests: dict[Key, str] = {}
        self._written_statuses: dict[Key, dict[str, Any]] = {}

    def observed_gateway(self, key: Key) -> None:
        """The watch showed the Gateway of `key` (changed or deleted)."""
        self._applied_digests.pop(key, None)

    def observed_wrapped(self, key: Key) -> None:
        """The watch showed the WrappedGateway `key` (changed or deleted)."""
        self._written_statuses.pop(key, None)

    async def reconcile(self, key: Key) -> str:
        """Bring the Gateway of `key` in line; returns what happened, for metrics and logs."""
        started = time.perf_counter()
        try:
            result = await self._reconcile(key)
        except ApiException:
            metrics.RECONCILES.labels(result="error").inc()
            raise
        finally:
            metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
        metrics.RECONCILES.labels(result=result).inc()
        return result

    async def _reconcile(self, key: Key) -> str:
        entry = self._index.wrapped(key)
        if entry is None:
            self._forget(key)
            return "deleted"  # garbage collection removes the Gateway it owned
        if entry.model is None:
            verdict = Verdict(False, Outcome.INVALID_SPEC, entry.error or "invalid spec")
            await self._write_status(entry, verdict, None)
            return "invalid"
        routes = self._index.routes_for(key)
        # In a thread: thousands of routes take a second, and the event loop must keep
        # answering health probes and taking watch events meanwhile. Everything it reads is
        # immutable or only looked up.
        desired = await asyncio.to_thread(
            desired_gateway, entry.model, routes, self._index.namespace_labels
        )
        self._count_refusals(key, desired)
        await self._post_events(desired, routes)
        verdict, result = await self._converge(entry, desired)
        await self._write_status(entry, verdict, desired)
        return result

    async def _converge(self, entry: WrappedEntry, desired: DesiredGateway) -> tuple[Verdict, str]:
        key = (entry.namespace, entry.name)
        live = self._index.gateway(key)
        if live is not None and not live.owned_by(entry.uid):
            return (
                Verdict(
                    False,
                    Outcome.GATEWAY_NOT_OWNED,
                    f"Gateway {desired.key} exists and is not controlled by this "
                    "WrappedGateway; it is left untouched. Delete or rename it to let the "
                    "controller manage it.",
                ),
                "not-owned",
            )
        if desired.gateway is None:
            return (
                Verdict(
                    False,
                    Outcome.NO_LISTENERS,
                    "no static listeners and no route contributes one; the Gateway API "
                    "requires at least one listener"
                    + (", so the existing Gateway keeps its listeners" if live else ""),
                ),
                "no-listeners",
            )
        manifest = with_digest(desired.gateway)
        digest = manifest["metadata"]["annotations"][APPLIED_DIGEST_ANNOTATION]
        if self._applied_digests.get(key) == digest or not needs_apply(manifest, live):
            return self._programmed(desired), "unchanged"
        self._applied_digests[key] = digest
        try:
            await asyncio.to_thread(self._api.apply_gateway, manifest)
        except BaseException as error:
            self._applied_digests.pop(key, None)  # not applied, or not known to be
            if isinstance(error, ApiException) and error.status in (400, 409, 422):
                # The API server refused the Gateway: retrying the same object cannot help.
                log.error("Gateway %s rejected by the API server: %s", desired.key, error.body)
                message = f"the API server rejected the Gateway: {_api_message(error)}"
                return Verdict(False, Outcome.APPLY_FAILED, message), "rejected"
            raise
        metrics.APPLIES.inc()
        log.info("applied Gateway %s (%d listeners)", desired.key, _listener_count(desired))
        return self._programmed(desired), "applied"

    @staticmethod
    def _programmed(desired: DesiredGateway) -> Verdict:
        return Verdict(
            True,
            Outcome.PROGRAMMED,
            f"Gateway {desired.key} has {_listener_count(desired)} listeners",
        )

    async def _write_status(
        self, entry: WrappedEntry, verdict: Verdict, desired: DesiredGateway | None
    ) -> None:
        key = (entry.namespace, entry.name)
        previous = self._written_statuses.get(key, entry.status)
        status = status_for(entry.generation, verdict, desired, previous, self._clock())
        if status == previous:
            return
        self._written_statuses[key] = status
        try:
            await asyncio.to_thread(self._api.apply_status, entry.namespace, entry.name, status)
        except BaseException:
            self._written_statuses.pop(key, None)
            raise

    async def _post_events(self, desired: DesiredGateway, routes: list[Route]) -> None:
        unreported = self._ledger.unreported(desired.key, desired.refusals)
        if not unreported:
            return
        by_identity = {route.identity: route for route in routes}
        now = self._clock()
        for refusal in unreported:
            route = by_identity.get((refusal.kind, refusal.namespace, refusal.name))
            try:
                await asyncio.to_thread(
                    self._api.create_event, refusal_event(refusal, route, desired.key, now)
                )
            except Exception as error:
                if not _already_exists(error):
                    # Events are not worth failing the reconcile for; this one stays
                    # unreported, so the next reconcile posts it. An unreachable API server
                    # raises urllib3's errors, not ApiException.
                    detail = error.reason if isinstance(error, ApiException) else error
                    log.warning("could not post an Event for %s: %s", refusal, detail)
                    continue
                # Its name is derived from the refusal: this controller before a restart, or
                # another replica, posted it. Its count and lastTimestamp are left alone: the
                # refusal did not happen again, it is the same one seen anew, and a restart
                # with nothing changed should write nothing.
            self._ledger.reported(desired.key, refusal)

    def _count_refusals(self, key: Key, desired: DesiredGateway) -> None:
        counts: dict[str, int] = {}
        for refusal in desired.refusals:
            counts[refusal.reason] = counts.get(refusal.reason, 0) + 1
        self._refusals_by_gateway[key] = counts

    def _forget(self, key: Key) -> None:
        self._refusals_by_gateway.pop(key, None)
        self._applied_digests.pop(key, None)
        self._written_statuses.pop(key, None)

    def refusals_by_reason(self) -> dict[str, int]:
        """Current refusals over every WrappedGateway, by reason."""
        totals: dict[str, int] = {}
        for counts in self._refusals_by_gateway.values():
            for reason, count in counts.items():
                totals[reason] = totals.get(reason, 0) + count
        return totals


def _listener_count(desired: DesiredGateway) -> int:
    return len(desired.gateway["spec"]["listeners"]) if desired.gateway else 0


def _already_exists(error: Exception) -> bool:
    return isinstance(error, ApiException) and error.status == 409


def _api_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except ValueError:
        return str(error.reason)
