"""Deletions that happened while a watch was down, found when kopf lists again.

kopf restarts a failed watch (the API server gone for a while, a 410 Gone) with a fresh
listing, which it delivers as events of type None, one per object that exists. It never
reports the objects that were deleted in the gap, so the index would keep them forever (a
deleted route keeping its listener). client-go's reflector replaces its store with each
listing; this does the same for the index: after a re-listing of one resource, what the index
holds of it but the listing did not contain, and that no event has touched since the listing
began, is removed.

A listing is told from live events by its type (None), and a re-listing from the first one by
having seen a watch event, or a pause, since the last listing event of that resource (an empty
first listing delivers no event at all).

kopf's first listing is a re-listing too: the controller lists every resource itself at
start-up (to know when its index is complete), and kopf lists again only once that is done.
An object deleted between the two listings is in the index, yet in neither kopf's listing nor
its watch, which begins where its listing ended.

Until kopf has handed over every object of the controller's own listing (or it is known to be
gone), kopf is still working through its listing, and a change waits behind it: the tracker
keeps those objects as awaited, and the controller is not ready until none is left.
"""

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from wrapped_gateway.constants import ObjectKey, Resource

# Listing events of one resource arrive back to back; a pause this long starts a new listing.
LISTING_PAUSE = 5.0


@dataclass
class _Seen:
    listed_at: float | None = None  # the clock of the last listing event
    watched_since: bool = False  # a watch event arrived after it
    objects: dict[ObjectKey, int] = field(default_factory=dict)  # -> event number
    awaited: set[ObjectKey] = field(default_factory=set)  # listed by the controller, not by kopf
    kopf_listed: bool = True  # a listing event of kopf's arrived since the controller's own


class RelistTracker:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._events = 0
        self._resources: dict[Resource, _Seen] = {}

    def observe(self, resource: Resource, event_type: str | None, key: ObjectKey) -> bool:
        """Record one event; True when it starts a re-listing of `resource`."""
        self._events += 1
        seen = self._resources.setdefault(resource, _Seen())
        seen.awaited.discard(key)
        if event_type == "DELETED":
            seen.objects.pop(key, None)
        else:
            seen.objects[key] = self._events
        if event_type is not None:
            seen.watched_since = True
            return False
        seen.kopf_listed = True
        now = self._clock()
        # Watch events before any listing event: the first listing was empty.
        relisting = seen.watched_since or (
            seen.listed_at is not None and now - seen.listed_at > LISTING_PAUSE
        )
        seen.listed_at, seen.watched_since = now, False
        return relisting

    def listing_ended(self, resource: Resource) -> None:
        """A listing of `resource` that kopf did not deliver (the controller's own) is over:
        kopf's next listing of it is a re-listing, and each object it held is awaited until
        kopf hands it over or it is found gone."""
        seen = self._resources.setdefault(resource, _Seen())
        seen.watched_since, seen.kopf_listed = True, False
        seen.awaited = set(seen.objects)

    def awaited(self) -> int:
        """How many objects of the controller's own listings kopf has not handed over yet."""
        return sum(len(seen.awaited) for seen in self._resources.values())

    def unlisted(self) -> list[Resource]:
        """The resources kopf has delivered no listing event of since the controller's own
        listing, while it still awaits some of their objects: kopf's listing found none of
        them (a watch event may follow it all the same), or has not reached them yet."""
        return [r for r, seen in self._resources.items() if not seen.kopf_listed and seen.awaited]

    def mark(self) -> int:
        """A point in the event sequence: take it before listing."""
        return self._events

    def vanished(
        self, resource: Resource, listed: Iterable[ObjectKey], mark: int
    ) -> list[ObjectKey]:
        """What the index holds of `resource` that a listing begun at `mark` did not contain
        and no event touched since: deleted while the watch was down. They are forgotten."""
        seen = self._resources.get(resource)
        if seen is None:
            return []
        present = set(listed)
        gone = [k for k, n in seen.objects.items() if k not in present and n <= mark]
        for key in gone:
            del seen.objects[key]
            seen.awaited.discard(key)
        return gone
