"""The kopf operator: watches feed the index, workers reconcile what the index says changed."""

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from typing import Any, TypeVar

import kopf
from kubernetes import client, config
from kubernetes.client import ApiException
from prometheus_client import REGISTRY

from wrapped_gateway.constants import (
    GATEWAY_GROUP,
    GATEWAY_KIND,
    LISTENER_SET_KIND,
    LISTENER_SET_PLURAL,
    WRAPPED_GROUP,
    WRAPPED_KIND,
    WRAPPED_PLURAL,
    WRAPPED_VERSION,
    ObjectKey,
    Resource,
)
from wrapped_gateway.controller import metrics
from wrapped_gateway.controller.endpoints import serve_health, serve_metrics
from wrapped_gateway.controller.existing import LiveGateway, LiveListenerSet, WrappedEntry
from wrapped_gateway.controller.index import ClusterIndex
from wrapped_gateway.controller.kopf_config import kopf_connection, kopf_settings
from wrapped_gateway.controller.kube import PLURALS, KubeApi, failure
from wrapped_gateway.controller.leader import LeaderElector
from wrapped_gateway.controller.metrics import ControllerState, StateCollector
from wrapped_gateway.controller.reconciler import Reconciler
from wrapped_gateway.controller.refusal_events import RefusalEvents
from wrapped_gateway.controller.relist import RelistTracker
from wrapped_gateway.controller.settings import Settings
from wrapped_gateway.controller.workqueue import WorkQueue
from wrapped_gateway.routes import RouteKind, parse_route
from wrapped_gateway.routes.parse import SERVED_VERSIONS

log = logging.getLogger(__name__)
MAX_BACKOFF = 60.0
# How long kopf may take to begin listing a resource before the controller lists it again to
# learn whether the objects it awaits from it are gone (kopf's listing may have found none).
UNLISTED_GRACE = 30.0
LISTENER_SETS = (GATEWAY_GROUP, "v1", LISTENER_SET_PLURAL)
EventHandler = Callable[[Mapping[str, Any]], None]
Live = TypeVar("Live", LiveGateway, LiveListenerSet)


class Controller:
    def __init__(self, settings: Settings, api_client: client.ApiClient) -> None:
        self.settings = settings
        self.index = ClusterIndex()
        self.queue: WorkQueue[ObjectKey] = WorkQueue(
            settle=settings.settle_seconds, burst_hold=settings.burst_hold_seconds
        )
        self.api = KubeApi(api_client)
        self.events = RefusalEvents(self.api, self.index)
        self.reconciler = Reconciler(self.index, self.api, self.events)
        self.ready = False
        self.relists = RelistTracker()
        self._watched: dict[Resource, tuple[str, EventHandler]] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._failures: dict[ObjectKey, int] = {}
        self.elector = (
            LeaderElector(
                client.CoordinationV1Api(api_client),
                settings.election,
                on_elected=self._enqueue_all,
                # A replica that has not caught up would act on an incomplete index, and its
                # changes would wait behind kopf's listing: a standby stays one until ready.
                may_lead=lambda: self.caught_up,
            )
            if settings.election
            else None
        )

    @property
    def caught_up(self) -> bool:
        """Ready for changes: the index is complete, and kopf has handed over every object it
        held (until then kopf works through its own listing, and a change waits behind it)."""
        return self.ready and not self.relists.awaited()

    @property
    def acting(self) -> bool:
        return self.elector is None or self.elector.is_leader

    def state(self) -> ControllerState:
        """What the controller holds now, for the metrics."""
        return ControllerState(
            indexed_routes=self.index.route_count,
            indexed_wrapped_gateways=self.index.wrapped_count,
            queue_depth=len(self.queue),
            leader=self.elector is not None and self.elector.is_leader,
            refusals_by_reason=self.reconciler.refusals_by_reason(),
            held_for_burst=self.queue.held_for_burst,
            awaited_from_kopf=self.relists.awaited(),
        )

    # --- watch events -> index -> queue ---------------------------------------------------
    def on_route(self, event: Mapping[str, Any]) -> None:
        obj = event["object"]
        if event.get("type") == "DELETED":
            touched = self.index.remove_route(RouteKind(obj["kind"]), *ObjectKey.of(obj))
        else:
            touched = self.index.upsert_route(parse_route(obj))
        self._enqueue(touched)

    def on_wrapped(self, event: Mapping[str, Any]) -> None:
        obj = event["object"]
        if event.get("type") == "DELETED":
            touched = self.index.remove_wrapped(*ObjectKey.of(obj))
        else:
            touched = self.index.upsert_wrapped(WrappedEntry.from_object(obj))
        self.reconciler.observed_wrapped(ObjectKey.of(obj))
        self._enqueue(touched)

    def on_namespace(self, event: Mapping[str, Any]) -> None:
        metadata = event["object"].get("metadata") or {}
        name = str(metadata.get("name"))
        if event.get("type") == "DELETED":
            touched = self.index.remove_namespace(name)
        else:
            terminating = metadata.get("deletionTimestamp") is not None
            touched = self.index.upsert_namespace(name, metadata.get("labels") or {}, terminating)
        self._enqueue(touched)

    def on_gateway(self, event: Mapping[str, Any]) -> None:
        index, parse = self.index, LiveGateway.from_object
        self._on_written(event, GATEWAY_KIND, parse, index.upsert_gateway, index.remove_gateway)

    def on_listener_set(self, event: Mapping[str, Any]) -> None:
        index, parse = self.index, LiveListenerSet.from_object
        upsert, remove = index.upsert_listener_set, index.remove_listener_set
        self._on_written(event, LISTENER_SET_KIND, parse, upsert, remove)

    def _on_written(
        self,
        event: Mapping[str, Any],
        kind: str,
        parse: Callable[[Mapping[str, Any]], Live],
        upsert: Callable[[Live], set[ObjectKey]],
        remove: Callable[[str, str], set[ObjectKey]],
    ) -> None:
        """A Gateway or ListenerSet event: an object that WrappedGateways write."""
        key = ObjectKey.of(event["object"])
        live = None if event.get("type") == "DELETED" else parse(event["object"])
        touched = remove(*key) if live is None else upsert(live)
        if self.reconciler.observed(kind, key, live) and live is not None and live.writer:
            # its writer's own apply, which needs nothing done; other WrappedGateways may
            touched.discard(live.writer)
        self._enqueue(touched)

    def _enqueue(self, keys: Iterable[ObjectKey]) -> None:
        if not self.ready:
            return  # the initial sync enqueues everything once the index is complete
        for key in keys:
            self.queue.add(key)

    def _enqueue_all(self) -> None:
        self._enqueue(self.index.wrapped_keys())

    # --- start-up: one LIST per resource, then the watches take over ----------------------
    async def initial_sync(self, route_versions: Mapping[RouteKind, str]) -> None:
        for kind, version in route_versions.items():
            await self._list_into_index(
                (GATEWAY_GROUP, version, PLURALS[kind]), self.on_route, kind=kind.value
            )
        await self._list_into_index(
            (WRAPPED_GROUP, WRAPPED_VERSION, WRAPPED_PLURAL), self.on_wrapped
        )
        await self._list_into_index((GATEWAY_GROUP, "v1", "gateways"), self.on_gateway)
        if await asyncio.to_thread(self.api.serves_listener_sets):
            await self._list_into_index(LISTENER_SETS, self.on_listener_set)
        # A Namespace is read for its metadata alone.
        namespaces = ("", "v1", "namespaces")
        await self._list_into_index(namespaces, self.on_namespace, metadata_only=True)
        self.ready = True
        log.info(
            "index ready: %d routes, %d WrappedGateways",
            self.index.route_count,
            self.index.wrapped_count,
        )
        self._enqueue_all()
        self._in_background(self._check_unlisted())

    async def _check_unlisted(self) -> None:
        """Lists again each resource kopf has delivered no listing of since the controller's
        own, while the controller still awaits its objects: a listing that found none of them
        delivers no event at all, and they would be awaited (and indexed) for good."""
        while True:
            await asyncio.sleep(UNLISTED_GRACE)
            unlisted = self.relists.unlisted()
            if not unlisted and self.caught_up:
                return
            for resource in unlisted:
                await self._forget_vanished(resource, *self._watched[resource])

    async def _list_into_index(
        self,
        resource: Resource,
        handle: EventHandler,
        kind: str | None = None,
        metadata_only: bool = False,
    ) -> None:
        # Recorded as a listing, so that kopf's first listing is checked against it (relist.py).
        async for obj in self._listed(resource, metadata_only):
            listed = obj if kind is None else {**obj, "kind": kind}
            handle({"type": None, "object": listed})
            self.relists.observe(resource, None, ObjectKey.of(listed))
        self.relists.listing_ended(resource)

    async def _listed(self, resource: Resource, metadata_only: bool) -> AsyncIterator[Any]:
        """Every object of a resource, fetched a page at a time: a single LIST of tens of
        thousands of routes would hold all of them, as JSON and as objects, at once."""
        # Namespaces themselves are listed whole, never limited to the watched ones.
        scopes = (self.settings.namespaces if resource[0] else None) or (None,)
        for namespace in scopes:
            token: str | None = None
            while True:
                page = await asyncio.to_thread(
                    self.api.list_page, resource, namespace, token, metadata_only
                )
                for item in page["items"]:
                    yield item
                token = page["metadata"].get("continue")
                if not token:
                    break

    async def _forget_vanished(self, resource: Resource, kind: str, handle: EventHandler) -> None:
        """After kopf re-listed `resource`, drop what was deleted while its watch was down."""
        for attempt in itertools.count():
            mark = self.relists.mark()
            try:
                # Only names are compared: the objects' specs would cost their transfer and
                # parsing, for every object of the resource, at every start and watch restart.
                listed = [
                    ObjectKey.of(item) async for item in self._listed(resource, metadata_only=True)
                ]
                break
            except Exception as error:  # the API server may still be starting
                retry_in = min(MAX_BACKOFF, 2.0**attempt)
                log.warning(
                    "could not list %s after a watch restart (%s); retrying in %.0fs",
                    resource[2],
                    failure(error),
                    retry_in,
                )
                await asyncio.sleep(retry_in)
        for key in self.relists.vanished(resource, listed, mark):
            log.info("%s %s was deleted while the watch was down", kind, key)
            metadata = {"name": key.name, "namespace": key.namespace}
            handle({"type": "DELETED", "object": {"kind": kind, "metadata": metadata}})

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- workers ------------------------------------------------------------------------
    async def work(self) -> None:
        while True:
            key = await self.queue.get()
            retry_in = None
            try:
                if self.acting:
                    retry_in = await self._reconcile(key)
                else:
                    self.reconciler.stand_by(key)
            finally:
                self.queue.done(key)
            if retry_in is not None:  # after `done`, or the key's rest would replace the delay
                self.queue.add(key, delay=retry_in)

    async def _reconcile(self, key: ObjectKey) -> float | None:
        """Reconcile `key`, counted and timed; in how long to retry it, when it failed."""
        started = time.perf_counter()
        try:
            result = await self.reconciler.reconcile(key)
        except Exception as error:
            metrics.RECONCILES.labels(result="error").inc()
            failures = self._failures[key] = self._failures.get(key, 0) + 1
            retry_in = min(MAX_BACKOFF, 0.5 * 2.0 ** (failures - 1))
            log.warning(
                "reconcile of %s failed (%s); retrying in %.1fs",
                key,
                failure(error),
                retry_in,
                exc_info=not isinstance(error, ApiException),  # a bug: where it is
            )
            return retry_in
        finally:
            metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
        metrics.RECONCILES.labels(result=result).inc()
        log.debug("reconciled %s: %s", key, result)
        self._failures.pop(key, None)
        return None

    async def resync(self) -> None:
        while True:
            await asyncio.sleep(self.settings.resync_seconds)
            self._enqueue_all()

    # --- kopf wiring --------------------------------------------------------------------
    def registry(self, route_versions: Mapping[RouteKind, str]) -> kopf.OperatorRegistry:
        registry = kopf.OperatorRegistry()
        kopf.on.login(registry=registry)(self._login)

        for kind in RouteKind:
            # A kind served now is watched at the version chosen by discovery; a kind whose
            # CRD is absent is watched at every version it may come with, so it is picked up
            # when installed (the index ignores the same route seen twice).
            versions = [route_versions[kind]] if kind in route_versions else SERVED_VERSIONS[kind]
            if kind not in route_versions:
                log.info("%s is not served yet; it will be watched once its CRD exists", kind)
            for version in versions:
                resource = (GATEWAY_GROUP, version, PLURALS[kind])
                self._on_event(registry, resource, kind.value, self.on_route)
        wrapped = (WRAPPED_GROUP, WRAPPED_VERSION, WRAPPED_PLURAL)
        self._on_event(registry, wrapped, WRAPPED_KIND, self.on_wrapped)
        self._on_event(registry, (GATEWAY_GROUP, "v1", "gateways"), "Gateway", self.on_gateway)
        # Watched even before its CRD exists (Gateway API before v1.5), like a route kind.
        self._on_event(registry, LISTENER_SETS, LISTENER_SET_KIND, self.on_listener_set)
        self._on_event(registry, ("", "v1", "namespaces"), "Namespace", self.on_namespace)
        return registry

    def _login(self, **_: Any) -> kopf.ConnectionInfo:
        """kopf connects with the credentials the controller's own API client uses."""
        configuration = self.api.api_client.configuration
        if configuration.refresh_api_key_hook is not None:
            configuration.refresh_api_key_hook(configuration)  # a rotated service account token
        return kopf_connection(configuration)

    def _on_event(
        self,
        registry: kopf.OperatorRegistry,
        resource: Resource,
        kind: str,
        handle: EventHandler,
    ) -> None:
        # async, so that it runs in the event loop the work queue lives in (kopf runs sync
        # handlers in a thread pool)
        async def handler(event: Mapping[str, Any], **_: Any) -> None:
            handle(event)
            key = ObjectKey.of(event["object"])
            if self.relists.observe(resource, event.get("type"), key) and self.ready:
                self._in_background(self._forget_vanished(resource, kind, handle))

        self._watched[resource] = (kind, handle)
        group, version, plural = resource
        kopf.on.event(
            group=group, version=version, plural=plural, id=f"{plural}.{version}", registry=registry
        )(handler)


def api_client_for(settings: Settings) -> client.ApiClient:
    configuration = client.Configuration()
    # kubernetes.config has no annotations (the generated kubernetes.client has)
    if settings.kubeconfig:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=settings.kubeconfig, client_configuration=configuration
        )
    else:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    return client.ApiClient(configuration)


def run(settings: Settings, stop_flag: threading.Event | None = None) -> int:
    """Run the operator until SIGINT/SIGTERM, or until `stop_flag` is set (in a thread)."""
    kopf.configure(
        debug=settings.log_level == "debug",
        verbose=settings.log_level == "debug",
        quiet=settings.log_level in ("warning", "error"),
        log_format=kopf.LogFormat.JSON if settings.log_format == "json" else kopf.LogFormat.FULL,
    )
    logging.getLogger().setLevel(settings.log_level.upper())
    if settings.log_level != "debug":
        # kopf reports every watch event it hands over; that is debug detail here.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    api_client = api_client_for(settings)
    controller = Controller(settings, api_client)
    route_versions = controller.api.served_route_versions()
    registry = controller.registry(route_versions)
    background: list[asyncio.Task[None]] = []
    runners: list[Any] = []

    @kopf.on.startup(registry=registry)
    async def start(**_: Any) -> None:
        try:
            runners.append(
                await serve_health(settings.health_address, lambda: controller.caught_up)
            )
            runners.append(await serve_metrics(settings.metrics_address))
        except OSError as error:
            message = f"cannot serve the health or metrics endpoint: {error}"
            raise kopf.PermanentError(message) from error
        if controller.elector is not None:
            background.append(asyncio.create_task(controller.elector.run()))
        background.extend(asyncio.create_task(controller.work()) for _ in range(settings.workers))
        background.append(asyncio.create_task(controller.events.run(lambda: controller.acting)))
        background.append(asyncio.create_task(controller.resync()))
        await controller.initial_sync(route_versions)

    @kopf.on.cleanup(registry=registry)
    async def stop(**_: Any) -> None:
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        for runner in runners:
            await runner.cleanup()

    state_collector = StateCollector(controller.state)
    REGISTRY.register(state_collector)
    try:
        kopf.run(
            registry=registry,
            settings=kopf_settings(),
            clusterwide=not settings.namespaces,
            namespaces=list(settings.namespaces),
            standalone=True,
            stop_flag=stop_flag,
        )
    finally:
        REGISTRY.unregister(state_collector)
    return 0
