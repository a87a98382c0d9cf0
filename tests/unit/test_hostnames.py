import pytest

from wrapped_gateway.hostnames import covers, hostname_problem, parent_domains, parent_wildcards


@pytest.mark.parametrize(
    "hostname",
    ["example.com", "a.example.com", "*.example.com", "xn--bcher-kva.example", "a-1.b-2.c", "x"],
)
def test_valid_hostnames_have_no_problem(hostname: str) -> None:
    assert hostname_problem(hostname) is None


@pytest.mark.parametrize(
    ("hostname", "fragment"),
    [
        ("", "empty"),
        ("10.0.0.1", "IP address"),
        ("::1", "IP address"),
        ("2001:db8::1", "IP address"),
        ("Example.com", "not a valid hostname"),
        ("a..example.com", "not a valid hostname"),
        ("-a.example.com", "not a valid hostname"),
        ("a-.example.com", "not a valid hostname"),
        ("*.*.example.com", "not a valid hostname"),
        ("a.*.example.com", "not a valid hostname"),
        ("*", "not a valid hostname"),
        ("example.com.", "not a valid hostname"),
        ("under_score.example.com", "not a valid hostname"),
        ("a" * 254, "254 characters"),
    ],
)
def test_invalid_hostnames_are_explained(hostname: str, fragment: str) -> None:
    problem = hostname_problem(hostname)
    assert problem is not None
    assert fragment in problem


def test_a_253_character_hostname_is_valid() -> None:
    hostname = ".".join(["a" * 63] * 3) + "." + "b" * 61
    assert len(hostname) == 253
    assert hostname_problem(hostname) is None


@pytest.mark.parametrize(
    ("pattern", "hostname", "expected"),
    [
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "a.b.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "*.example.com", True),
        ("*.example.com", "*.team.example.com", True),
        ("*.team.example.com", "*.example.com", False),
        ("*.team.example.com", "team.example.com", False),
        ("*.example.com", "badexample.com", False),
        ("*.example.com", "a.example.org", False),
        ("app.example.com", "app.example.com", True),
        ("app.example.com", "x.app.example.com", False),
        ("app.example.com", "*.app.example.com", False),
    ],
)
def test_pattern_covers_hostname_with_gateway_api_wildcard_semantics(
    pattern: str, hostname: str, expected: bool
) -> None:
    assert covers(pattern, hostname) is expected


@pytest.mark.parametrize(
    ("hostname", "domains", "wildcards"),
    [
        (
            "x.a.example.com",
            ("a.example.com", "example.com", "com"),
            ("*.a.example.com", "*.example.com", "*.com"),
        ),
        (
            "*.a.example.com",
            ("a.example.com", "example.com", "com"),
            ("*.a.example.com", "*.example.com", "*.com"),
        ),
        ("example.com", ("com",), ("*.com",)),
        ("localhost", (), ()),
    ],
)
def test_the_domains_and_wildcards_above_a_hostname(
    hostname: str, domains: tuple[str, ...], wildcards: tuple[str, ...]
) -> None:
    assert parent_domains(hostname) == domains
    assert parent_wildcards(hostname) == wildcards
    assert all(covers(wildcard, hostname) for wildcard in wildcards)
