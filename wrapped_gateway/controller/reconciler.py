"""One reconcile of one WrappedGateway: index in; Gateway, ListenerSets, status and Events out."""

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import ApiException

from wrapped_gateway.constants import GATEWAY_KIND, ObjectKey
from wrapped_gateway.controller import metrics, status
from wrapped_gateway.controller.drift import digest_of, needs_apply, with_digest
from wrapped_gateway.controller.existing import (
    LiveGateway,
    LiveListenerSet,
    WrappedEntry,
    elder_listener_set_writer,
    foreign_listener_sets,
)
from wrapped_gateway.controller.index import ClusterIndex
from wrapped_gateway.controller.kube import KubeApi
from wrapped_gateway.controller.refusal_events import RefusalEvents
from wrapped_gateway.controller.status import Verdict, status_for
from wrapped_gateway.listeners import DesiredGateway, ResumableSynthesis
from wrapped_gateway.listeners.dns_endpoint import dns_endpoint_manifest
from wrapped_gateway.wrapped import Output

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
        events: RefusalEvents | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._index = index
        self._api = api
        self._events = events or RefusalEvents(api, index, clock)
        self._clock = clock
        self._refusals_by_gateway: dict[ObjectKey, Mapping[str, int]] = {}
        self._listener_sets_known_served = False
        # (kind, namespace, name) -> what this reconciler last applied there (with its
        # digest), until the watch shows that object again
        self._applied: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._written_statuses: dict[ObjectKey, dict[str, Any]] = {}
        self._syntheses: dict[ObjectKey, ResumableSynthesis] = {}  # one worker per key uses each
        # WrappedGateway -> the DNSEndpoint last applied for it (not watched: it lives in the
        # platform's namespace and only this controller writes it)
        self._dns_endpoints: dict[ObjectKey, dict[str, Any]] = {}

    def observed(
        self, kind: str, key: ObjectKey, live: LiveGateway | LiveListenerSet | None
    ) -> bool:
        """The watch showed a Gateway or ListenerSet (None: deleted). Whether it is just what
        this reconciler applied last: then it needs no reconcile, which would find nothing to
        do (the watch often shows an apply before the apply call returns)."""
        applied = self._applied.pop((kind, *key), None)
        return applied is not None and live is not None and not needs_apply(applied, live)

    def observed_wrapped(self, key: ObjectKey) -> None:
        """The watch showed the WrappedGateway `key` (changed or deleted)."""
        self._written_statuses.pop(key, None)

    async def reconcile(self, key: ObjectKey) -> str:
        """Bring the Gateway of `key` in line; returns what happened, for metrics and logs."""
        entry = self._index.wrapped(key)
        if entry is None:
            self._forget(key)
            # Garbage collection removes the Gateway, and the ListenerSet in its namespace;
            # owner references cannot reach the tenants' namespaces.
            await self._delete_listener_sets(key, keep=())
            return "deleted"
        if self._index.terminating(key.namespace):
            # Its Gateway goes with the namespace: rewriting it (and the status, and posting
            # Events) for each route the deletion removes would be refused or thrown away.
            self._events.withdraw(key)
            return "terminating"
        if entry.model is None:
            await self._write_status(entry, status.invalid_spec(entry.error), None)
            return "invalid"
        listener_sets = entry.model.output is Output.LISTENER_SETS
        foreign: dict[str, str] = {}
        if listener_sets:
            if not await self._listener_sets_served():
                await self._write_status(entry, status.LISTENER_SETS_UNAVAILABLE, None)
                return "unavailable"
            elder = elder_listener_set_writer(entry, self._index.wrapped_named(entry.name))
            if elder is not None:
                taken = status.listener_set_name_taken(key.name, elder.key)
                await self._write_status(entry, taken, None)
                return "name-taken"
            named = self._index.listener_sets_named(key.name)
            attached = self._index.listener_sets_attached_to(key)
            foreign = foreign_listener_sets(entry.model, named, attached)
        routes = self._index.routes_for(key)
        # Resumed from the previous reconcile's claims: a new route costs one claim, not one
        # per route. In a thread all the same: a first reconcile of thousands of routes takes a
        # second, and the event loop must keep answering health probes and taking watch events
        # meanwhile. Everything it reads is immutable, only looked up, or copied in C.
        synthesis = self._syntheses.setdefault(key, ResumableSynthesis())
        desired = await asyncio.to_thread(
            synthesis.desired_gateway, entry.model, routes, self._index.namespace_labels, foreign
        )
        # Counted by the synthesis as it resumed: only the new refusals, on every reconcile.
        self._refusals_by_gateway[key] = desired.refusals.counts
        verdict, result = await self._converge(entry, desired)
        if listener_sets and verdict.ready:
            verdict = await self._converge_listener_sets(desired) or verdict
        if verdict.ready:
            await self._publish_dns_endpoint(entry, desired)
        await self._write_status(entry, verdict, desired)
        return result

    async def _publish_dns_endpoint(self, entry: WrappedEntry, desired: DesiredGateway) -> None:
        """Apply the DNSEndpoint of exactly the accepted names (spec.dnsEndpoint), pointing at
        the Gateway's addresses; delete the one applied before if it is no longer asked for."""
        assert entry.model is not None
        live = self._index.gateway(entry.key)
        addresses = live.addresses if live is not None else ()
        manifest = dns_endpoint_manifest(entry.model, desired.listeners, addresses)
        previous = self._dns_endpoints.get(entry.key)
        if manifest is None:
            if previous is not None:
                await asyncio.to_thread(self._api.delete_dns_endpoint, *entry.key)
                del self._dns_endpoints[entry.key]
                log.info(
                    "deleted DNSEndpoint %s, which spec.dnsEndpoint no longer asks for", entry.key
                )
            return
        if manifest == previous:
            return
        try:
            await asyncio.to_thread(self._api.apply_dns_endpoint, manifest)
        except ApiException as error:
            if error.status not in (403, 404, 422):
                raise
            # No DNSEndpoint CRD, no permission, or refused: DNS must not hold back the
            # Gateway and the status every tenant relies on; tried again on the next reconcile.
            log.error("could not apply DNSEndpoint %s: %s", entry.key, _api_message(error))
            return
        self._dns_endpoints[entry.key] = manifest
        log.info(
            "applied DNSEndpoint %s (%d endpoints)", entry.key, len(manifest["spec"]["endpoints"])
        )

    async def _listener_sets_served(self) -> bool:
        """Asked until the answer is yes: the CRD may be installed while the controller runs."""
        if not self._listener_sets_known_served:
            served = await asyncio.to_thread(self._api.serves_listener_sets)
            self._listener_sets_known_served = served
        return self._listener_sets_known_served

    async def _converge_listener_sets(self, desired: DesiredGateway) -> Verdict | None:
        """Apply the desired ListenerSets and delete the stale ones; a Verdict if refused."""
        for listener_set in desired.listener_sets:
            key = ObjectKey.of(listener_set)
            try:
                applied = await self._apply(listener_set, self._index.listener_set(*key))
            except _Rejected as rejected:
                return rejected.verdict
            if applied:
                log.info("applied ListenerSet %s", key)
        await self._delete_listener_sets(desired.key, keep=desired.listener_sets)
        return None

    async def _delete_listener_sets(
        self, owner: ObjectKey, keep: Iterable[Mapping[str, Any]]
    ) -> None:
        kept = {ObjectKey.of(manifest) for manifest in keep}
        for live in self._index.listener_sets_named(owner.name):
            if live.writer == owner and live.key not in kept:
                await asyncio.to_thread(self._api.delete_listener_set, *live.key)
                log.info("deleted ListenerSet %s, which no route needs", live.key)

    async def _converge(self, entry: WrappedEntry, desired: DesiredGateway) -> tuple[Verdict, str]:
        live = self._index.gateway(entry.key)
        if live is not None and not live.owned_by(entry.uid):
            return status.gateway_not_owned(desired), "not-owned"
        if desired.gateway is None:
            return status.no_listeners(gateway_exists=live is not None), "no-listeners"
        try:
            applied = await self._apply(desired.gateway, live)
        except _Rejected as rejected:
            return rejected.verdict, "rejected"
        if not applied:
            return status.programmed(desired), "unchanged"
        log.info("applied Gateway %s (%d listeners)", desired.key, desired.listener_count)
        return status.programmed(desired), "applied"

    async def _apply(
        self, desired: Mapping[str, Any], live: LiveGateway | LiveListenerSet | None
    ) -> bool:
        """Apply `desired` unless the live object, or what this reconciler applied since the
        watch last showed it, already is it; whether it applied. An object the API server
        refuses raises `_Rejected`: retrying the same object cannot help."""
        manifest = with_digest(desired)
        key = ObjectKey.of(manifest)
        memory = (manifest["kind"], *key)
        remembered = self._applied.get(memory)
        if remembered is not None and digest_of(remembered) == digest_of(manifest):
            return False
        if not needs_apply(manifest, live):
            return False
        self._applied[memory] = manifest
        try:
            await asyncio.to_thread(self._api.apply, manifest)
        except BaseException as error:
            self._applied.pop(memory, None)  # not applied, or not known to be
            if isinstance(error, ApiException) and error.status in (400, 409, 422):
                what = f"{manifest['kind']} {key}"
                log.error("%s rejected by the API server: %s", what, error.body)
                verdict = status.apply_failed(
                    f"the API server rejected {what}: {_api_message(error)}"
                )
                raise _Rejected(verdict) from error
            raise
        metrics.APPLIES.inc()
        return True

    async def _write_status(
        self, entry: WrappedEntry, verdict: Verdict, desired: DesiredGateway | None
    ) -> None:
        key = entry.key
        # The refusals the status reports are those whose Events are posted (none without a
        # desired Gateway, until there is one again): apart, a batch at a time, so that one
        # tenant's thousands of refused routes do not hold back the Gateway every tenant shares.
        if desired is None:
            self._events.withdraw(key)
        else:
            self._events.offer(desired.key, desired.refusals)
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

    def stand_by(self, key: ObjectKey) -> None:
        """What a standby does instead of a reconcile: nothing but forget a WrappedGateway that
        is gone, which, leading later, it would never reconcile."""
        if self._index.wrapped(key) is None:
            self._forget(key)

    def _forget(self, key: ObjectKey) -> None:
        self._events.forget(key)
        self._refusals_by_gateway.pop(key, None)
        self._applied.pop((GATEWAY_KIND, *key), None)
        self._written_statuses.pop(key, None)
        self._syntheses.pop(key, None)
        self._dns_endpoints.pop(key, None)  # garbage collection removes it with its owner

    def refusals_by_reason(self) -> dict[str, int]:
        """Current refusals over every WrappedGateway, by reason."""
        totals: dict[str, int] = {}
        for counts in self._refusals_by_gateway.values():
            for reason, count in counts.items():
                totals[reason] = totals.get(reason, 0) + count
        return totals


def _api_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except ValueError:
        return str(error.reason)


class _Rejected(Exception):
    """The API server refused an object the reconciler applied; `verdict` says so."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict
