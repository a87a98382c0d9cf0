"""The DNS server of ``up --with-external-dns``: Knot, authoritative for a test zone on loopback.

Knot comes from the Debian packages ``knot`` and ``knot-dnsutils`` (which start no daemon of
their own): ``knotd`` runs with a configuration written here, listening on 127.0.0.1 (UDP and
TCP) on a free port, authoritative for one zone that accepts RFC 2136 dynamic updates and zone
transfers (AXFR) from 127.0.0.1 only, without TSIG: external-dns's rfc2136 provider writes the
records with updates and reads them back with a transfer. The zone starts with its SOA and NS
records only. ``query_addresses`` is a stdlib DNS client (one A query over UDP), so that ``up``
and the demo need nothing beyond the packages.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import struct
from pathlib import Path

from .processes import Component, Launch, State, start_with_retry
from .reporting import ClusterError

# The name of the zone's own name server, inside the zone (its A record is 127.0.0.1)
NAME_SERVER_LABEL = "ns"


def knotd_binary() -> Path:
    found = shutil.which("knotd") or next(
        (p for p in ("/usr/sbin/knotd", "/sbin/knotd") if os.access(p, os.X_OK)), None
    )
    if not found:
        raise ClusterError(
            "--with-external-dns needs Knot's knotd (Debian: apt-get install knot knot-dnsutils)"
        )
    return Path(found)


def zone_file_text(zone: str) -> str:
    """The zone as it starts: SOA and NS only; external-dns adds the rest by RFC 2136."""
    return "\n".join(
        [
            f"$ORIGIN {zone}.",
            "$TTL 60",
            f"@ SOA {NAME_SERVER_LABEL} hostmaster 1 3600 600 86400 0",
            f"@ NS {NAME_SERVER_LABEL}",
            f"{NAME_SERVER_LABEL} A 127.0.0.1",
            "",
        ]
    )


def knot_config_text(directory: Path, zone: str, port: int) -> str:
    # zonefile-sync -1: the zone file is never rewritten from updates (they live in Knot's
    # journal), so the file stays the zone's starting point and nothing else reads it.
    return "\n".join(
        [
            "server:",
            f"    listen: 127.0.0.1@{port}",
            f'    rundir: "{directory}"',
            "log:",
            "  - target: stderr",
            "    any: info",
            "database:",
            f'    storage: "{directory / "db"}"',
            "acl:",
            "  - id: local_update_and_transfer",
            "    address: 127.0.0.1",
            "    action: [update, transfer]",
            "zone:",
            f"  - domain: {zone}",
            f'    storage: "{directory}"',
            f'    file: "{zone}.zone"',
            "    zonefile-sync: -1",
            "    journal-content: changes",
            "    acl: local_update_and_transfer",
            "",
        ]
    )


def _encode_name(name: str) -> bytes:
    labels = [label for label in name.rstrip(".").split(".") if label]
    return b"".join(bytes([len(label)]) + label.encode("ascii") for label in labels) + b"\0"


def _skip_name(message: bytes, offset: int) -> int:
    while True:
        length = message[offset]
        if length == 0:
            return offset + 1
        if length & 0xC0 == 0xC0:  # a compression pointer ends the name
            return offset + 2
        offset += 1 + length


def query_addresses(
    port: int, name: str, host: str = "127.0.0.1", timeout: float = 2.0
) -> list[str]:
    """The IPv4 addresses the server at host:port answers for ``name`` (A query over UDP);
    empty for NXDOMAIN or no A record. Raises OSError if the server does not answer."""
    query_id = secrets.randbits(16)
    # header: id, flags (recursion desired), 1 question; question: name, type A, class IN
    question = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + _encode_name(name)
    question += struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(question, (host, port))
        while True:
            answer, _ = sock.recvfrom(65535)
            if len(answer) >= 12 and struct.unpack(">H", answer[:2])[0] == query_id:
                break
    _, flags, qdcount, ancount, _, _ = struct.unpack(">HHHHHH", answer[:12])
    rcode = flags & 0xF
    if rcode == 3:  # NXDOMAIN
        return []
    if rcode != 0:
        raise OSError(f"DNS server 127.0.0.1:{port} answered {name} with rcode {rcode}")
    offset = 12
    for _ in range(qdcount):
        offset = _skip_name(answer, offset) + 4
    addresses = []
    for _ in range(ancount):
        offset = _skip_name(answer, offset)
        rtype, _, _, rdlength = struct.unpack(">HHIH", answer[offset : offset + 10])
        offset += 10
        if rtype == 1 and rdlength == 4:
            addresses.append(socket.inet_ntoa(answer[offset : offset + 4]))
        offset += rdlength
    return addresses


def start_knot(state: State, zone: str, timeout: float) -> Component:
    """Start knotd for ``zone`` on a free port; ready once it answers the zone's NS name."""
    knotd = knotd_binary()
    directory = state.dir / "knot"
    # Knot makes its journal and timer databases inside this directory, but not the directory
    (directory / "db").mkdir(parents=True, exist_ok=True)
    (directory / f"{zone}.zone").write_text(zone_file_text(zone))
    config = directory / "knot.conf"

    def argv(port: int) -> list[str]:
        config.write_text(knot_config_text(directory, zone, port))
        return [str(knotd), "--config", str(config)]

    def ready(comp: Component) -> bool:
        # a short timeout: a query sent before knotd listens is lost, not refused (UDP)
        name_server = f"{NAME_SERVER_LABEL}.{zone}"
        return query_addresses(comp.ports[0], name_server, timeout=0.3) == ["127.0.0.1"]

    comp = start_with_retry(
        state,
        Launch("knot", argv, nports=1, ready=ready, what=f"serving zone {zone}"),
        timeout,
    )
    state.dns = {"server": f"127.0.0.1:{comp.ports[0]}", "zone": zone}
    state.save()
    return comp
