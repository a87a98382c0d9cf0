"""The refused routes' Warning Events, owned by `RefusalEvents` (its ledger and the Events it
makes are its own)."""

from wrapped_gateway.controller.refusal_events.poster import (
    BATCH_PAUSE,
    EVENTS_PER_BATCH,
    RefusalEvents,
)

__all__ = ["BATCH_PAUSE", "EVENTS_PER_BATCH", "RefusalEvents"]
