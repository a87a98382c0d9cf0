"""A refusal, and a WrappedGateway's refusals in claim order, built so that a change costs
what it changed.

One tenant's thousands of refused routes must not make every other tenant's change on the
shared Gateway cost a pass over all of them. `Refusals` is an immutable sequence
made of chunks, tuples of the refusals of consecutive routes in the claim order, with their
count by reason. A resumed synthesis (`resumable.py`) passes on the chunks of the claims it
kept, the same objects, and adds a chunk for the claims it made: who reads the refusals can
tell by identity which chunks it has seen before (the Event ledger does), and the counts are
the kept ones plus the new chunk's.
"""

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from types import MappingProxyType
from typing import overload

from wrapped_gateway.constants import ObjectKey
from wrapped_gateway.routes import Route, RouteKind


@dataclass(frozen=True, slots=True)
class Refusal:
    """A route, or one hostname or port of it, that contributes no listener, and why."""

    kind: RouteKind
    namespace: str
    name: str
    reason: str
    message: str
    hostname: str | None = None
    port: int | None = None  # the first port refused for this reason and hostname
    more_ports: tuple[int, ...] = ()  # the others, so that one refusal covers them all

    @property
    def ports(self) -> tuple[int, ...]:
        return () if self.port is None else (self.port, *self.more_ports)

    @classmethod
    def of(
        cls,
        route: Route,
        reason: str,
        message: str,
        hostname: str | None = None,
        port: int | None = None,
    ) -> "Refusal":
        return cls(route.kind, route.namespace, route.name, reason, message, hostname, port)

    @property
    def route_key(self) -> ObjectKey:
        return ObjectKey(self.namespace, self.name)

    def __str__(self) -> str:
        spelled = ObjectKey.spell(self.namespace, self.name)
        return f"{self.kind} {spelled}: {self.reason}: {self.message}"


Chunk = tuple[Refusal, ...]
# namespace -> the position (in claim order) and refusal of each of its oldest refusals
Heads = Mapping[str, tuple[tuple[int, Refusal], ...]]

# How many refusals `fair_first` can give (status.refusedRoutes holds at most this many): the
# oldest this many of each of the first this many namespaces are all it needs.
FAIR_FIRST = 100

# A chunk this small is merged with the refusals after it rather than followed by another, so
# that routes added one at a time do not leave a chunk each: any two neighbouring chunks hold
# more than this many refusals together.
MERGE_BELOW = 64


class Refusals(Sequence[Refusal]):
    """Refusals in claim order (oldest route first), as chunks, with their count by reason."""

    __slots__ = ("_chunks", "_counts", "_heads", "_length")

    def __init__(
        self,
        chunks: Iterable[Chunk] = (),
        counts: Mapping[str, int] | None = None,
        heads: Heads | None = None,
    ):
        """`counts` (by reason) and `heads` when the caller knows them, else they are made
        here from the refusals."""
        self._chunks: tuple[Chunk, ...] = tuple(chunk for chunk in chunks if chunk)
        self._length = sum(map(len, self._chunks))
        if counts is None:
            counts = Counter(refusal.reason for refusal in self)
        self._counts = MappingProxyType({r: n for r, n in counts.items() if n})
        self._heads = _with_heads({}, self, 0) if heads is None else heads

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        """The chunks, none empty: the same objects for the claims a resumed synthesis kept."""
        return self._chunks

    @property
    def counts(self) -> Mapping[str, int]:
        """How many refusals there are of each reason (no reason counted 0)."""
        return self._counts

    def then(self, refusals: Sequence[Refusal]) -> "Refusals":
        """These refusals followed by `refusals`, sharing every chunk but perhaps a small last
        one, which is merged with them (see MERGE_BELOW)."""
        if not refusals:
            return self
        counts = Counter(self._counts)
        counts.update(refusal.reason for refusal in refusals)
        heads = _with_heads(self._heads, refusals, self._length)
        *kept, last = self._chunks or ((),)
        if len(last) + len(refusals) <= MERGE_BELOW:
            return Refusals((*kept, last + tuple(refusals)), counts, heads)
        return Refusals((*self._chunks, tuple(refusals)), counts, heads)

    def fair_first(self, limit: int = FAIR_FIRST) -> tuple[Refusal, ...]:
        """Up to `limit` refusals (at most FAIR_FIRST), in claim order. When there are more,
        they are chosen in turn from each namespace (its oldest first), the namespaces in the
        order of their oldest refusal, so that one tenant's flood of refused routes cannot
        hide every other tenant's. Costs what it gives, not what there is."""
        limit = max(0, min(limit, FAIR_FIRST))
        if self._length <= limit:
            return tuple(self)
        if not limit:
            return ()
        chosen: list[tuple[int, Refusal]] = []
        for round_ in range(limit):
            for held in self._heads.values():
                if round_ < len(held):
                    chosen.append(held[round_])
                    if len(chosen) == limit:
                        return tuple(refusal for _, refusal in sorted(chosen))
        raise AssertionError("unreachable: the heads hold `limit` refusals")  # pragma: no cover

    def __len__(self) -> int:
        return self._length

    def __iter__(self) -> Iterator[Refusal]:
        return chain.from_iterable(self._chunks)

    def __bool__(self) -> bool:
        return self._length > 0

    @overload
    def __getitem__(self, index: int) -> Refusal: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[Refusal, ...]: ...

    def __getitem__(self, index: int | slice) -> Refusal | tuple[Refusal, ...]:
        if isinstance(index, slice):
            return tuple(self)[index]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError("Refusals index out of range")
        for chunk in self._chunks:
            if index < len(chunk):
                return chunk[index]
            index -= len(chunk)
        raise AssertionError("unreachable")  # pragma: no cover

    def __eq__(self, other: object) -> bool:
        """Equal to any tuple or list of the same refusals in the same order; to other
        Refusals, also by their counts."""
        if isinstance(other, Refusals):
            if self._counts != other._counts or self._length != other._length:
                return False
            if len(self._chunks) == len(other._chunks) and all(
                a is b for a, b in zip(self._chunks, other._chunks, strict=True)
            ):
                return True
            return all(a == b for a, b in zip(self, other, strict=True))
        if isinstance(other, tuple | list):
            return len(other) == self._length and all(
                a == b for a, b in zip(self, other, strict=True)
            )
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to tuples, so not hashable like them

    def __repr__(self) -> str:
        return f"Refusals({list(self)!r})"


def _with_heads(heads: Heads, refusals: Iterable[Refusal], start: int) -> Heads:
    """`heads` with `refusals`, the ones from position `start` on, where they are among the
    oldest FAIR_FIRST of one of the first FAIR_FIRST namespaces; `heads` itself (shared, not
    copied) when none is."""
    grown: dict[str, tuple[tuple[int, Refusal], ...]] | None = None
    for position, refusal in enumerate(refusals, start):
        current = heads if grown is None else grown
        held = current.get(refusal.namespace, ())
        if len(held) >= FAIR_FIRST or (not held and len(current) >= FAIR_FIRST):
            continue
        if grown is None:
            grown = dict(heads)
        grown[refusal.namespace] = (*held, (position, refusal))
    return heads if grown is None else grown
