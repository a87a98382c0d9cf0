import re

import pytest

from wrapped_gateway.listeners.naming import disambiguated, listener_name, secret_name

NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LONG = ".".join(["a" * 63] * 3) + "." + "b" * 61  # 253 characters


@pytest.mark.parametrize(
    ("protocol", "port", "hostname", "expected"),
    [
        ("HTTPS", 443, "app.example.com", "https-443-app.example.com"),
        ("HTTPS", 443, "*.example.com", "wildcard-https-443-example.com"),
        ("TLS", 6443, "cp.example.com", "tls-6443-cp.example.com"),
        ("TCP", 5432, None, "tcp-5432"),
        ("UDP", 53, None, "udp-53"),
    ],
)
def test_listener_names_say_what_the_listener_serves(
    protocol: str, port: int, hostname: str | None, expected: str
) -> None:
    assert listener_name(protocol, port, hostname) == expected


def test_wildcard_and_exact_hostnames_never_share_a_name() -> None:
    names = {
        listener_name("HTTPS", 443, "*.example.com"),
        listener_name("HTTPS", 443, "wildcard.example.com"),
        listener_name("HTTPS", 443, "wildcard-https-443-example.com"),
    }
    assert len(names) == 3
    secrets = {
        secret_name(443, "*.example.com"),
        secret_name(443, "wildcard.example.com"),
        secret_name(443, "wildcard-tls-443-example.com"),
    }
    assert len(secrets) == 3


@pytest.mark.parametrize("hostname", [LONG, "*." + LONG[2:], "x" + LONG[1:]])
def test_names_of_the_longest_hostnames_stay_valid_and_distinct(hostname: str) -> None:
    name = listener_name("HTTPS", 65535, hostname)
    secret = secret_name(65535, hostname)
    for value in (name, secret):
        assert len(value) <= 253
        assert NAME.match(value)


def test_long_names_differing_only_at_the_end_stay_distinct() -> None:
    a = LONG[:-1] + "a"
    b = LONG[:-1] + "c"
    assert listener_name("HTTPS", 443, a) != listener_name("HTTPS", 443, b)
    assert secret_name(443, a) != secret_name(443, b)


def test_secret_names_differ_by_port() -> None:
    assert secret_name(443, "a.example.com") != secret_name(8443, "a.example.com")


def test_disambiguated_names_are_valid_deterministic_and_distinct() -> None:
    first = disambiguated("https-443-a.example.com", "443/HTTPS a.example.com")
    assert first == disambiguated("https-443-a.example.com", "443/HTTPS a.example.com")
    assert first != disambiguated("https-443-a.example.com", "443/TLS a.example.com")
    assert NAME.match(first)
