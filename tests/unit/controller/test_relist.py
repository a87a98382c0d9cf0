"""Deletions during a watch gap are found when kopf lists again (controller/relist.py)."""

import itertools

from wrapped_gateway.controller.kopf_config import kopf_settings
from wrapped_gateway.controller.relist import LISTING_PAUSE, RelistTracker

ROUTES = ("gateway.networking.k8s.io", "v1", "httproutes")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def listed(tracker: RelistTracker, *names: str) -> list[bool]:
    return [tracker.observe(ROUTES, None, ("team", name)) for name in names]


def test_the_first_listing_is_not_a_relisting() -> None:
    tracker = RelistTracker(Clock())
    assert listed(tracker, "a", "b", "c") == [False, False, False]


def test_a_listing_after_watch_events_is_a_relisting_once() -> None:
    tracker = RelistTracker(Clock())
    listed(tracker, "a", "b")
    tracker.observe(ROUTES, "MODIFIED", ("team", "a"))
    assert listed(tracker, "a", "b") == [True, False]


def test_a_listing_after_an_empty_first_listing_and_watch_events_is_a_relisting() -> None:
    # the first listing found nothing, so it delivered no event at all
    tracker = RelistTracker(Clock())
    tracker.observe(ROUTES, "ADDED", ("team", "a"))
    assert listed(tracker, "a") == [True]


def test_a_listing_after_a_quiet_pause_is_a_relisting() -> None:
    clock = Clock()
    tracker = RelistTracker(clock)
    listed(tracker, "a")
    clock.now += LISTING_PAUSE + 1
    assert listed(tracker, "a") == [True]


def test_what_the_relisting_lacks_and_no_event_touched_since_is_gone() -> None:
    tracker = RelistTracker(Clock())
    listed(tracker, "a", "deleted-in-the-gap", "c")
    mark = tracker.mark()
    # created after the listing began: the listing cannot know it, the watch does
    tracker.observe(ROUTES, "ADDED", ("team", "new"))
    gone = tracker.vanished(ROUTES, [("team", "a"), ("team", "c")], mark)
    assert gone == [("team", "deleted-in-the-gap")]
    assert tracker.vanished(ROUTES, [("team", "a"), ("team", "c")], tracker.mark()) == [
        ("team", "new")
    ]


def test_a_deleted_object_is_not_reported_again() -> None:
    tracker = RelistTracker(Clock())
    listed(tracker, "a")
    tracker.observe(ROUTES, "DELETED", ("team", "a"))
    assert tracker.vanished(ROUTES, [], tracker.mark()) == []


def test_resources_are_tracked_apart() -> None:
    tracker = RelistTracker(Clock())
    listed(tracker, "a")
    tracker.observe(("", "v1", "namespaces"), None, ("None", "team"))
    assert tracker.vanished(("", "v1", "namespaces"), [], tracker.mark()) == [("None", "team")]
    assert tracker.vanished(ROUTES, [("team", "a")], tracker.mark()) == []


def test_kopf_retries_requests_for_as_long_as_the_api_server_is_down() -> None:
    backoffs = kopf_settings().networking.error_backoffs
    waits = list(itertools.islice(iter(backoffs), 100))
    assert len(waits) == 100, "kopf stops after the last backoff"
    assert sum(waits) > 30 * 60
    assert list(itertools.islice(iter(backoffs), 3)) == waits[:3], "each request starts afresh"


def test_kopfs_first_listing_after_the_controllers_own_is_a_relisting_once() -> None:
    tracker = RelistTracker(Clock())
    listed(tracker, "a", "deleted-before-kopf-listed")
    tracker.listing_ended(ROUTES)
    mark = tracker.mark()
    assert listed(tracker, "a") == [True]
    assert tracker.vanished(ROUTES, [("team", "a")], mark) == [
        ("team", "deleted-before-kopf-listed")
    ]


def test_the_controllers_own_listing_is_awaited_from_kopf_object_by_object() -> None:
    tracker = RelistTracker(Clock())
    listed(tracker, "a", "b", "c")
    tracker.listing_ended(ROUTES)
    assert tracker.awaited() == 3
    assert tracker.unlisted() == [ROUTES]
    mark = tracker.mark()
    listed(tracker, "a")  # kopf's listing begins
    assert tracker.unlisted() == []
    tracker.observe(ROUTES, "DELETED", ("team", "b"))
    assert tracker.awaited() == 1
    tracker.vanished(ROUTES, [("team", "a")], mark)  # c went before kopf listed
    assert tracker.awaited() == 0


def test_a_kind_kopf_listed_as_empty_is_still_unlisted_after_a_watch_event() -> None:
    # every listed object went before kopf listed; the watch then reports a new one
    tracker = RelistTracker(Clock())
    listed(tracker, "a", "b")
    tracker.listing_ended(ROUTES)
    tracker.observe(ROUTES, "ADDED", ("team", "new"))
    assert tracker.unlisted() == [ROUTES]
