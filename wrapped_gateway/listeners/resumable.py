"""desired_gateway for one WrappedGateway whose routes change a few at a time.

Routes claim listeners oldest first, and a route's claims depend only on the routes before it:
the book after the first k routes of that order is the same whatever comes after them.
`ResumableSynthesis` keeps such books (checkpoints) from its previous call, and starts the next
call from the last one before the first route that changed in that order. A new route is the
newest, so it costs one claim instead of one per route; a route deleted or changed among the
older ones costs the claims from the checkpoint before it on. The result is always
desired_gateway's (tests/unit/test_resumable.py).

Which routes changed is found by identity, in C (sets of ids), not by comparing routes: a
route object that is not the one of the previous call counts as changed. The routes of the
previous call are held, so no id of theirs can be reused by a new object meanwhile.

The refusals resume alike: each checkpoint keeps the `Refusals` of its claims, and a call
adds the refusals of its own claims to the checkpoint's, sharing its chunks and counting
only the new ones by reason. What a change costs never grows with the refusals it did not
touch.
"""

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from wrapped_gateway.listeners.book import ListenerBook
from wrapped_gateway.listeners.model import DesiredGateway
from wrapped_gateway.listeners.reach import reaches
from wrapped_gateway.listeners.refusals import Refusal, Refusals
from wrapped_gateway.listeners.synthesis import (
    ClaimOrder,
    NamespaceLabels,
    claim_order,
    claim_route,
    desired_from,
    new_book,
)
from wrapped_gateway.routes import Route
from wrapped_gateway.wrapped import NamespacesFrom, WrappedGateway

# Books kept between calls: CHECKPOINTS to twice as many along the order, at least
# MIN_CHECKPOINT_SPACING routes apart (each holds every listener's route names), besides the
# ends of the last two calls.
CHECKPOINTS = 16
MIN_CHECKPOINT_SPACING = 256


@dataclass(frozen=True, slots=True)
class _Inputs:
    """What every claim reads besides the route and the book: when it differs, all claims may."""

    wrapped: WrappedGateway
    namespace_labels: dict[str, Mapping[str, str]] | None  # read only by a Selector policy
    foreign_listener_sets: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Checkpoint:
    position: int  # the book after the claims of the first `position` routes of the order
    book: ListenerBook  # never claimed in: a call resumes from a copy
    refusals: Refusals  # what those claims refused


class ResumableSynthesis:
    """desired_gateway of one WrappedGateway, resumed from where its previous call's claims
    are still valid. Not for concurrent calls."""

    def __init__(self, min_spacing: int = MIN_CHECKPOINT_SPACING) -> None:
        self._min_spacing = min_spacing
        self._inputs: _Inputs | None = None
        self._routes: dict[int, Route] = {}  # id -> every route of the previous call
        self._order: list[Route] = []  # those that reach the WrappedGateway, in claim order
        self._order_keys: list[ClaimOrder] = []  # their claim_order
        self._checkpoints: list[_Checkpoint] = []  # by position

    def desired_gateway(
        self,
        wrapped: WrappedGateway,
        routes: Iterable[Route],
        namespace_labels: NamespaceLabels,
        foreign_listener_sets: Mapping[str, str] | None = None,
    ) -> DesiredGateway:
        """desired_gateway(wrapped, routes, namespace_labels, foreign_listener_sets).

        `routes` hold at most one route of each kind, namespace and name, as the controller's
        index and render do (two of one name would claim in the order given).
        """
        inputs = _Inputs(
            wrapped,
            dict(namespace_labels) if wrapped.namespaces_from is NamespacesFrom.SELECTOR else None,
            dict(foreign_listener_sets or {}),
        )
        if inputs != self._inputs:
            self._start_over(inputs)
        routes = list(routes)
        by_id = dict(zip(map(id, routes), routes, strict=True))
        gone = self._routes.keys() - by_id.keys()
        added = [by_id[i] for i in by_id.keys() - self._routes.keys()]
        new = [route for route in added if reaches(route, wrapped)]
        checkpoint = self._last_valid_checkpoint(
            [self._routes[i] for i in gone if reaches(self._routes[i], wrapped)] + new
        )
        kept = self._order[checkpoint.position :]
        tail = sorted([route for route in kept if id(route) not in gone] + new, key=claim_order)
        self._routes = by_id
        try:
            return self._claim_from(checkpoint, tail)
        except BaseException:
            self._inputs = None  # claims half made: the next call starts over
            raise

    def _start_over(self, inputs: _Inputs) -> None:
        self._inputs = inputs
        self._routes = {}
        self._order = []
        self._order_keys = []
        self._checkpoints = [_Checkpoint(0, new_book(inputs.wrapped), Refusals())]

    def _last_valid_checkpoint(self, changed: list[Route]) -> _Checkpoint:
        """The last checkpoint before every changed route (added or gone) in the order; the
        later ones are dropped."""
        first = min(
            (bisect_left(self._order_keys, claim_order(route)) for route in changed),
            default=len(self._order),
        )
        valid = bisect_right([c.position for c in self._checkpoints], first)
        del self._checkpoints[valid:]
        return self._checkpoints[-1]

    def _claim_from(self, checkpoint: _Checkpoint, tail: list[Route]) -> DesiredGateway:
        assert self._inputs is not None
        wrapped, labels, foreign = (
            self._inputs.wrapped,
            self._inputs.namespace_labels or {},
            self._inputs.foreign_listener_sets,
        )
        start = checkpoint.position
        del self._order[start:], self._order_keys[start:]
        self._order += tail
        self._order_keys += map(claim_order, tail)
        # A power of two, so that the checkpoints kept stay at multiples of it as routes come
        # and go (it changes only when their number doubles or halves).
        spacing = max(self._min_spacing, 1 << (len(self._order) // CHECKPOINTS).bit_length() >> 1)
        book = checkpoint.book.copy()
        refusals = checkpoint.refusals
        made: list[Refusal] = []  # since the last checkpoint
        for position, route in enumerate(tail, start + 1):
            made += claim_route(wrapped, route, labels, foreign, book)
            if position % spacing == 0 or position == len(self._order):
                refusals, made = refusals.then(made), []
                self._keep(_Checkpoint(position, book.copy(), refusals), spacing)
        return desired_from(wrapped, book, refusals)

    def _keep(self, checkpoint: _Checkpoint, spacing: int) -> None:
        """Keep `checkpoint`, the one before it (where this call resumed, when it claimed few
        routes: a route just added and deleted again costs no claim), the start, and those
        `spacing` apart."""
        *older, last = self._checkpoints
        self._checkpoints = [c for c in older if c.position % spacing == 0]
        self._checkpoints += [last, checkpoint]
