"""Gateway API hostname rules: what is a valid hostname and which patterns cover which names."""

import re
from functools import lru_cache

MAX_HOSTNAME_LENGTH = 253
MAX_LABEL_LENGTH = 63

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
# fullmatch, never `$`: `$` also matches before a trailing newline.
_HOSTNAME = re.compile(rf"(\*\.)?{_LABEL}(\.{_LABEL})*")
# A WrappedGateway's allowed hostname pattern: a hostname in which whole labels may be
# `{namespace}`, the namespace of the route it is checked for.
ALLOWED_HOSTNAME_PATTERN = re.compile(
    rf"(\*\.)?({_LABEL}|\{{namespace\}})(\.({_LABEL}|\{{namespace\}}))*"
)
# WHATWG URL parsing (what browsers do) reads a host whose last label is a number, decimal or
# 0x-hex, as an IPv4 address: `2130706433`, `0x7f.0.0.1`, `01.02.03.04` and `1.2.3` all mean an
# address, and no real top-level domain is numeric.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")


# The controller computes every Gateway afresh from all of its routes on each change; the
# answers for a route's hostnames are kept so that a change costs a lookup per unchanged route.
_CACHED_HOSTNAMES = 1 << 16


@lru_cache(maxsize=_CACHED_HOSTNAMES)
def hostname_problem(hostname: str) -> str | None:
    """Why `hostname` is not a valid Gateway API listener hostname, or None when it is."""
    if not hostname:
        return "hostname is empty"
    if len(hostname) > MAX_HOSTNAME_LENGTH:
        return f"hostname is {len(hostname)} characters long, the limit is {MAX_HOSTNAME_LENGTH}"
    if ":" in hostname or _NUMERIC_LABEL.fullmatch(hostname.rpartition(".")[2]):
        return f"{hostname!r} is an IP address; a listener hostname must be a DNS name"
    if not _HOSTNAME.fullmatch(hostname):
        return (
            f"{hostname!r} is not a valid hostname (lowercase DNS labels, optionally "
            "prefixed by a single '*.' wildcard label)"
        )
    longest = max(hostname.split("."), key=len)
    if len(longest) > MAX_LABEL_LENGTH:
        return (
            f"{hostname!r} has a label of {len(longest)} characters; DNS allows {MAX_LABEL_LENGTH}"
        )
    return None


def is_wildcard(hostname: str) -> bool:
    return hostname.startswith("*.")


def covers(pattern: str, hostname: str) -> bool:
    """Whether every name `hostname` stands for is also matched by `pattern`.

    `*.example.com` matches one or more labels below example.com, never example.com itself,
    so it covers `a.example.com`, `a.b.example.com` and `*.b.example.com`, and also
    `*.example.com`; an exact pattern covers only itself.
    """
    if not is_wildcard(pattern):
        return pattern == hostname
    suffix = pattern[1:]  # ".example.com"
    if is_wildcard(hostname):
        base = hostname[1:]
        return base == suffix or base.endswith(suffix)
    return hostname.endswith(suffix)


@lru_cache(maxsize=_CACHED_HOSTNAMES)
def parent_domains(hostname: str) -> tuple[str, ...]:
    """The domains above a name or wildcard: `*.a.example.com` and `x.a.example.com` both give
    `("a.example.com", "example.com", "com")`; a wildcard's own base comes first."""
    domains = []
    _, dot, rest = hostname.partition(".")
    while dot:  # each domain is the tail of the name: no labels joined again
        domains.append(rest)
        _, dot, rest = rest.partition(".")
    return tuple(domains)


@lru_cache(maxsize=_CACHED_HOSTNAMES)
def parent_wildcards(hostname: str) -> tuple[str, ...]:
    """The wildcards that cover a name or wildcard: `*.a.example.com` and `x.a.example.com`
    both give `("*.a.example.com", "*.example.com", "*.com")`, nearest first. Kept, like the
    domains, because every claim of a hostname asks for them."""
    return tuple(f"*.{domain}" for domain in parent_domains(hostname))
