"""Which refusals have their Warning Event posted, so that each is posted once, not once per
reconcile (the Events themselves: `event.py`), and which are posted next: a batch of
one Gateway at a time, the Gateways in turn, each Gateway's namespaces in turn.

The ledger lives in memory, so a restarted controller would post every refusal again; the
Event's name is therefore derived from what it reports, and the API server's AlreadyExists
answer to a second post of the same refusal says that it is posted already.

What it remembers is kept per Gateway and bounded by that Gateway's current refusals, never
by a size shared by all of them: past a shared bound, one tenant's flood would push the other
Gateways' reports out, and their refusals would be posted again and again.
"""

import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from wrapped_gateway.constants import ObjectKey
from wrapped_gateway.listeners.refusals import Chunk, Refusal, Refusals

# Posts of one refusal that may fail before it is given up until its report would expire, as
# client-go's event recorder gives up after 12: a namespace where Events can never be created
# (a quota, a policy) must not have its refusals posted again every few seconds for good.
MAX_POST_ATTEMPTS = 12
# Seconds before a refusal whose post was refused is posted again, doubled at each refusal up
# to MAX_RETRY_PAUSE: a quota or a policy is likely to last a while. Only that refusal waits,
# never its Gateway: one tenant's failing namespace must not slow another tenant's Events.
RETRY_PAUSE = 5.0
MAX_RETRY_PAUSE = 60.0
# What is remembered of refusals no longer current is dropped once a Gateway's reports and
# failed posts are more than twice its current refusals and this many (see `_prune`).
PRUNE_SLACK = 64
_SEQUENCE = itertools.count()  # ties of the retry heaps, so that refusals are never compared


@dataclass
class _Book:
    """What the ledger knows of one Gateway's refusals."""

    refusals: Sequence[Refusal] = ()  # the current ones, as last asked about
    reported_until: dict[Refusal, float] = field(default_factory=dict)
    failed_posts: dict[Refusal, int] = field(default_factory=dict)
    # id of each chunk last found all reported: the chunk (held, so that its id stays its own)
    # and until when that holds
    settled: dict[int, tuple[Chunk, float]] = field(default_factory=dict)
    # namespace -> the batch (a count) in which its refusals last had a turn
    turns: dict[str, int] = field(default_factory=dict)
    # the unreported refusals not handed out yet, in turn; drawn from the chunks `backlog_of`,
    # and taken as they are until `backlog_until`
    backlog: deque[Refusal] = field(default_factory=deque)
    backlog_of: tuple[Chunk, ...] = ()
    backlog_until: float = 0.0
    # refusals whose post was refused -> when to post them again; and the same as a heap of
    # (when, n, refusal), so that the due ones come out in order (stale entries skipped)
    retry_due: dict[Refusal, float] = field(default_factory=dict)
    retry_heap: list[tuple[float, int, Refusal]] = field(default_factory=list)


class EventLedger:
    """Remembers which refusals were reported, for `ttl` seconds (the API server keeps an Event
    an hour by default: a refusal that lasts longer is reported again).

    A Gateway's refusals are asked about on each of its reconciles; one tenant's thousands of
    refused routes must not make every other tenant's change look all of them up. A resumed
    synthesis passes the chunks of the refusals it kept again, the same objects
    (`Refusals.chunks`): a chunk whose every refusal was found reported is remembered by
    identity and answered without lookups for up to `recheck` seconds (an expiry is noticed
    that much later), so only the chunks a change made anew are looked up.
    """

    def __init__(
        self,
        ttl: float = 3600,
        recheck: float = 60,
        retry_pause: float = RETRY_PAUSE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl
        self._recheck = recheck
        self._retry_pause = retry_pause
        self._clock = clock
        self._books: dict[ObjectKey, _Book] = {}
        self._batches = 0
        # the Gateways that may have Events to post, in the order of their turns (a dict as an
        # ordered set: a Gateway offered again keeps its place)
        self._in_line: dict[ObjectKey, None] = {}

    def offer(self, gateway_key: ObjectKey, refusals: Sequence[Refusal]) -> None:
        """A reconcile found these refusals on the Gateway: `take` posts what is unreported of
        them in the Gateway's turn."""
        book = self._books.setdefault(gateway_key, _Book())
        book.refusals = refusals
        self._in_line.setdefault(gateway_key)
        _prune(book)

    def take(self, size: int) -> tuple[ObjectKey, list[Refusal]] | None:
        """The next batch to post, of the next Gateway in turn that has one (it then goes to
        the back of the line), so that no Gateway's flood holds back another Gateway's Events;
        None when none has (or each that has is waiting to retry)."""
        for gateway_key in list(self._in_line):
            book = self._books[gateway_key]
            del self._in_line[gateway_key]
            batch, left = self.next_batch(gateway_key, book.refusals, size)
            if left or book.retry_due:
                self._in_line[gateway_key] = None
            if batch:
                return gateway_key, batch
        return None

    def due_in(self) -> float | None:
        """Seconds until a refusal waiting to be posted again is due; None when none waits."""
        dues = [d for key in self._in_line if (d := _next_retry(self._books[key])) is not None]
        return max(0.0, min(dues) - self._clock()) if dues else None

    def put_back(self, gateway_key: ObjectKey, refusals: Sequence[Refusal]) -> None:
        """Refusals handed out that were not posted (the API server could not take them just
        then), nothing counted against them: the first of the Gateway's next batch, unless its
        backlog is drawn anew before (its refusals changed, or `recheck` passed)."""
        book = self._books.get(gateway_key)
        if book is not None:
            book.backlog.extendleft(reversed(refusals))
            self._in_line.setdefault(gateway_key)

    def withdraw(self, gateway_key: ObjectKey) -> None:
        """The Gateway reports no refusals for now (its spec is invalid, say): nothing of it is
        posted until it offers some again. What was reported is kept, for when it does."""
        self._in_line.pop(gateway_key, None)
        book = self._books.get(gateway_key)
        if book is not None:
            book.backlog.clear()
            book.backlog_until = 0.0

    def __contains__(self, gateway_key: object) -> bool:
        """Whether the ledger holds the Gateway (not forgotten)."""
        return gateway_key in self._books

    def stand_by(self) -> None:
        """This replica no longer posts: nothing is left in line, so that, leading again, it
        posts only what its reconciles then offer (a Gateway may be gone by then). What was
        reported is kept."""
        self._in_line.clear()
        for book in self._books.values():
            book.backlog.clear()
            book.backlog_until = 0.0
            book.retry_due.clear()
            book.retry_heap.clear()

    def unreported(self, gateway_key: ObjectKey, refusals: Sequence[Refusal]) -> list[Refusal]:
        """The refusals with no Event yet, taken in turn from each namespace (each namespace's
        in claim order), those that had their turn longest ago (or never) first, so that no
        tenant's refused routes, however old or many, hold back another tenant's Event."""
        now = self._clock()
        book = self._books.setdefault(gateway_key, _Book())
        book.refusals = refusals
        chunks = _chunks_of(refusals)
        still: dict[int, tuple[Chunk, float]] = {}  # only the current chunks are kept
        unreported: list[Refusal] = []
        for chunk in chunks:
            known = book.settled.get(id(chunk))
            if known is not None and known[0] is chunk and now < known[1]:
                still[id(chunk)] = known
                continue
            missing = [r for r in chunk if book.reported_until.get(r, now) <= now]
            if missing:
                unreported += missing
            else:
                still[id(chunk)] = (chunk, now + self._recheck)
        book.settled = still
        if not unreported:
            book.turns.clear()
        return in_turn_by_namespace(unreported, book.turns)

    def next_batch(
        self, gateway_key: ObjectKey, refusals: Sequence[Refusal], size: int
    ) -> tuple[list[Refusal], int]:
        """The next (up to) `size` refusals to post, in the order `unreported` gives, and how
        many are left after them. Their namespaces have had their turn, whether or not each
        post succeeds (one that always fails must not keep its place).

        What is left is kept, in order: the next batch of the same refusals (the same chunks,
        within `recheck`) is taken from it, not from another pass over them all, so that
        draining a flood of thousands costs a batch what it posts, not what is left."""
        book = self._books.setdefault(gateway_key, _Book())
        chunks = _chunks_of(refusals)
        now = self._clock()
        if not (now < book.backlog_until and _same(chunks, book.backlog_of)):
            unreported = self.unreported(gateway_key, refusals)
            current = set(unreported)
            _keep_retries(book, {r: due for r, due in book.retry_due.items() if r in current})
            book.backlog = deque(r for r in unreported if r not in book.retry_due)
            book.backlog_of, book.backlog_until = chunks, now + self._recheck
        while (due := _next_retry(book)) is not None and due <= now:
            refusal = heapq.heappop(book.retry_heap)[2]
            del book.retry_due[refusal]
            book.backlog.append(refusal)  # after the others: its namespace had its turn
        batch = [book.backlog.popleft() for _ in range(min(size, len(book.backlog)))]
        self._batches += 1
        for refusal in batch:
            book.turns[refusal.namespace] = self._batches
        return batch, len(book.backlog)

    def reported(self, gateway_key: ObjectKey, refusal: Refusal) -> None:
        """Its Event is posted (nothing is kept of a Gateway forgotten meanwhile)."""
        book = self._books.get(gateway_key)
        if book is None:
            return
        book.failed_posts.pop(refusal, None)
        book.retry_due.pop(refusal, None)  # its heap entry is stale now
        book.reported_until[refusal] = self._clock() + self._ttl
        _prune(book)

    def post_failed(self, gateway_key: ObjectKey, refusal: Refusal) -> bool:
        """The API server refused its Event (a quota, a policy): it is posted again after a
        pause that doubles each time; whether that was its last attempt (it then counts as
        reported, and is posted again once that report would have expired)."""
        book = self._books.get(gateway_key)
        if book is None:
            return False
        attempts = book.failed_posts[refusal] = book.failed_posts.get(refusal, 0) + 1
        if attempts >= MAX_POST_ATTEMPTS:
            self.reported(gateway_key, refusal)
            return True
        due = self._clock() + min(MAX_RETRY_PAUSE, self._retry_pause * 2.0 ** (attempts - 1))
        book.retry_due[refusal] = due
        heapq.heappush(book.retry_heap, (due, next(_SEQUENCE), refusal))
        self._in_line.setdefault(gateway_key)
        _prune(book)
        return False

    def forget(self, gateway_key: ObjectKey) -> None:
        """The Gateway is gone: nothing of its refusals is kept."""
        self._books.pop(gateway_key, None)
        self._in_line.pop(gateway_key, None)


def _chunks_of(refusals: Sequence[Refusal]) -> tuple[Chunk, ...]:
    return refusals.chunks if isinstance(refusals, Refusals) else (tuple(refusals),)


def _same(chunks: tuple[Chunk, ...], others: tuple[Chunk, ...]) -> bool:
    """The same chunk objects: the same refusals, known without looking at them."""
    return len(chunks) == len(others) and all(a is b for a, b in zip(chunks, others, strict=True))


def _next_retry(book: _Book) -> float | None:
    """When the first refusal waiting to be posted again is due (stale heap entries dropped)."""
    heap = book.retry_heap
    while heap and book.retry_due.get(heap[0][2]) != heap[0][0]:
        heapq.heappop(heap)
    return heap[0][0] if heap else None


def _keep_retries(book: _Book, retry_due: dict[Refusal, float]) -> None:
    book.retry_due = retry_due
    book.retry_heap = [(due, next(_SEQUENCE), r) for r, due in retry_due.items()]
    heapq.heapify(book.retry_heap)


def _prune(book: _Book) -> None:
    """Drop what is remembered of refusals no longer current, once it is more than twice them
    (and PRUNE_SLACK): a pass over them costs no more than the reports and failures since."""
    remembered = len(book.reported_until) + len(book.failed_posts) + len(book.retry_due)
    if remembered <= 2 * len(book.refusals) + PRUNE_SLACK:
        return
    current = set(book.refusals)
    book.reported_until = {r: t for r, t in book.reported_until.items() if r in current}
    book.failed_posts = {r: n for r, n in book.failed_posts.items() if r in current}
    _keep_retries(book, {r: due for r, due in book.retry_due.items() if r in current})


def in_turn_by_namespace(
    refusals: list[Refusal], turns: Mapping[str, int] | None = None
) -> list[Refusal]:
    """`refusals` in rounds: the first of each namespace, then the second of each, and so on;
    the namespaces in the order of their last turn (`turns`: a namespace -> a count, none for
    those that had none), then of their first refusal. Their Events are posted in that order, a
    batch at a time, so however many namespaces hold older refusals, a namespace that waited
    is in the next batch: no tenant's refused routes hold back another tenant's Event."""
    queues: dict[str, list[Refusal]] = {}
    for refusal in refusals:
        queues.setdefault(refusal.namespace, []).append(refusal)
    if len(queues) < 2:
        return refusals
    last_turn = turns or {}
    # sorted() is stable: namespaces of one turn keep the order of their first refusal
    rounds = [iter(queues[n]) for n in sorted(queues, key=lambda n: last_turn.get(n, 0))]
    in_turn: list[Refusal] = []
    while rounds:
        left = []
        for queue in rounds:
            head = next(queue, None)
            if head is not None:
                in_turn.append(head)
                left.append(queue)
        rounds = left
    return in_turn
