"""The listener core: pure functions from a WrappedGateway and its routes to a Gateway."""

from wrapped_gateway.listeners.model import DesiredGateway, GeneratedListener, ListenerKey
from wrapped_gateway.listeners.refusals import Refusal, Refusals
from wrapped_gateway.listeners.resumable import ResumableSynthesis
from wrapped_gateway.listeners.synthesis import desired_gateway

__all__ = [
    "DesiredGateway",
    "GeneratedListener",
    "ListenerKey",
    "Refusal",
    "Refusals",
    "ResumableSynthesis",
    "desired_gateway",
]
