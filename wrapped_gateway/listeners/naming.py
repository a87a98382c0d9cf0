"""Deterministic, valid names for generated listeners and their certificate Secrets.

Both names are derived from what the listener serves, so they are stable across reconciles and
independent of which route came first. The encodings are injective: an exact hostname gives
`<protocol>-<port>-<hostname>`, a wildcard gives `wildcard-<protocol>-<port>-<rest>`, and no
protocol is spelled `wildcard`, so `*.example.com` and `wildcard.example.com` never meet.
"""

import hashlib

from wrapped_gateway.hostnames import is_wildcard

MAX_NAME_LENGTH = 253  # listener names (SectionName) and Secret names (DNS subdomain) alike
_HASH_LENGTH = 10


def listener_name(protocol: str, port: int, hostname: str | None) -> str:
    return _bounded(_encode(protocol.lower(), port, hostname))


def secret_name(port: int, hostname: str) -> str:
    """The Secret of a terminating listener: one per hostname and port.

    A Secret shared by two listeners makes cert-manager's shim repeat the hostname in one
    Certificate's dnsNames, which ACME refuses; HTTPS and TLS listeners on one port and hostname
    conflict anyway, so (port, hostname) names exactly one listener.
    """
    return _bounded(_encode("tls", port, hostname))


def disambiguated(name: str, salt: str) -> str:
    """`name` made distinct from an equal name that means something else, deterministically."""
    suffix = "-" + _digest(salt)
    return name[: MAX_NAME_LENGTH - len(suffix)].rstrip("-.") + suffix


def _encode(prefix: str, port: int, hostname: str | None) -> str:
    if hostname is None:
        return f"{prefix}-{port}"
    if is_wildcard(hostname):
        return f"wildcard-{prefix}-{port}-{hostname[2:]}"
    return f"{prefix}-{port}-{hostname}"


def _bounded(name: str) -> str:
    """Names over the limit keep a readable prefix and end in a digest of the whole name."""
    if len(name) <= MAX_NAME_LENGTH:
        return name
    return disambiguated(name, name)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:_HASH_LENGTH]
