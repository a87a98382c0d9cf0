"""Which namespace owns which hostnames of one Gateway.

A Gateway implementation sends a request to the most specific listener that matches it
(Listener Isolation): a listener for `app.example.com` takes that name's traffic from one for
`*.example.com`, and one for `*.app.example.com` takes a whole subtree. Implementations without
Listener Isolation (an Extended feature) mix the routes of every matching listener instead.
Either way, two namespaces holding overlapping hostnames can take each other's traffic, and
each gets a certificate valid for names the other serves. So the first namespace to claim a
hostname owns every name it matches, on every port and protocol of the Gateway: a later claim
from another namespace is refused when it overlaps (equals, covers or falls under) any hostname
another namespace owns, whichever of the two is the wildcard.
"""

from dataclasses import dataclass

from wrapped_gateway.hostnames import is_wildcard, parent_domains, parent_wildcards


@dataclass(frozen=True, slots=True)
class Owner:
    namespace: str
    hostname: str
    holder: str  # what claimed it, for messages: "listener 'x' of HTTPRoute team/web"

    def __str__(self) -> str:
        return f"{self.hostname}, which namespace {self.namespace!r} holds ({self.holder})"


class HostnameOwners:
    def __init__(self) -> None:
        self._by_hostname: dict[str, Owner] = {}
        # domain -> namespace -> the first hostname it owns below that domain
        self._below: dict[str, dict[str, Owner]] = {}

    def copy(self) -> "HostnameOwners":
        """An independent copy (the owners themselves are immutable)."""
        twin = HostnameOwners()
        twin._by_hostname = dict(self._by_hostname)
        twin._below = {domain: dict(owners) for domain, owners in self._below.items()}
        return twin

    def rival(self, namespace: str, hostname: str) -> Owner | None:
        """The owner of a hostname that overlaps `hostname` and is not `namespace`."""
        owner = self._by_hostname.get(hostname)
        if owner is not None:
            # No two namespaces ever own overlapping hostnames (each claim was checked), so
            # the owner of this very name decides.
            return owner if owner.namespace != namespace else None
        # wildcards above it: *.example.com over a.example.com and over *.a.example.com
        for wildcard in parent_wildcards(hostname):
            owner = self._by_hostname.get(wildcard)
            if owner is not None and owner.namespace != namespace:
                return owner
        if is_wildcard(hostname):
            # names and wildcards below it
            for owner in self._below.get(hostname[2:], {}).values():
                if owner.namespace != namespace:
                    return owner
        return None

    def owner_of(self, hostname: str) -> Owner | None:
        """Who owns `hostname` itself: the namespace holding it or a wildcard over it."""
        owner = self._by_hostname.get(hostname)
        if owner is not None:
            return owner
        for wildcard in parent_wildcards(hostname):
            owner = self._by_hostname.get(wildcard)
            if owner is not None:
                return owner
        return None

    def record(self, namespace: str, hostname: str, holder: str) -> None:
        if hostname in self._by_hostname:
            return  # recorded with its domains when first claimed, by this namespace
        owner = Owner(namespace, hostname, holder)
        self._by_hostname[hostname] = owner
        for domain in parent_domains(hostname):
            self._below.setdefault(domain, {}).setdefault(namespace, owner)
