"""Gateway API hostname rules: what is a valid hostname and which patterns cover which names."""

import ipaddress
import re

MAX_HOSTNAME_LENGTH = 253

_HOSTNAME = re.compile(r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def hostname_problem(hostname: str) -> str | None:
    """Why `hostname` is not a valid Gateway API listener hostname, or None when it is."""
    if not hostname:
        return "hostname is empty"
    if len(hostname) > MAX_HOSTNAME_LENGTH:
        return f"hostname is {len(hostname)} characters long, the limit is {MAX_HOSTNAME_LENGTH}"
    # An IP address ends in a digit (v4) or has a colon (v6): only then is the address parser,
    # slow when it fails, worth running.
    might_be_address = hostname[-1].isdigit() or ":" in hostname
    if might_be_address and _is_ip_address(hostname):
        return f"{hostname!r} is an IP address; a listener hostname must be a DNS name"
    if not _HOSTNAME.match(hostname):
        return (
            f"{hostname!r} is not a valid hostname (lowercase DNS labels, optionally "
            "prefixed by a single '*.' wildcard label)"
        )
    return None


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


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
