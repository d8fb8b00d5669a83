"""Call targets: only public http(s) URLs without credentials, checked before any request."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator

import pytest

from app.core import targets


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # shared address space
        "0.0.0.0",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "fe80::1",
        "fd00::1",
        "ff02::1",
        "::ffff:127.0.0.1",  # IPv4-mapped loopback
    ],
)
def test_non_public_addresses_are_refused_with_the_reason(address):
    reason = targets.refused_address(ipaddress.ip_address(address))
    assert reason is not None and "address" in reason


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111"])
def test_public_addresses_may_be_called(address):
    assert targets.refused_address(ipaddress.ip_address(address)) is None


@pytest.fixture
def policy_refusing_private() -> Iterator[None]:
    """As in a request without WEBHOOK_ALLOW_PRIVATE."""
    token = targets.allow_private_targets(False)
    yield
    targets.restore_target_policy(token)


@pytest.mark.usefixtures("policy_refusing_private")
@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/hook", "not an http:// or https:// URL"),
        ("javascript:alert(1)", "not an http:// or https:// URL"),
        ("https:///hook", "has no host"),
        ("https://user:pw@example.com/hook", "user name or password"),
        ("https://example.com/" + "a" * 2100, "the limit is 2,048"),
        ("http://10.0.0.7/hook", "10.0.0.7 is a private address"),
        ("http://[::1]:8080/hook", "::1 is a loopback address"),
        ("http://example.com:99999/", "not a valid URL"),
    ],
)
def test_unfit_urls_are_described_for_their_author(url, words):
    problem = targets.url_problem(url)
    assert problem is not None and words in problem


@pytest.mark.usefixtures("policy_refusing_private")
def test_a_public_url_or_a_host_name_passes_the_save_check():
    assert targets.url_problem("https://hooks.example.com/in?x=1") is None
    assert targets.url_problem("http://93.184.216.34:8080/hook") is None


def test_private_addresses_pass_the_save_check_only_when_the_operator_allows_them():
    url = "http://127.0.0.1:8000/hook"
    for allowed in (True, False):
        token = targets.allow_private_targets(allowed)
        try:
            assert (targets.url_problem(url) is None) is allowed
        finally:
            targets.restore_target_policy(token)


def test_without_a_policy_a_stored_url_is_not_judged_by_its_address():
    """The engine re-reads stored steps outside any request: the call itself decides."""
    assert targets.url_problem("http://127.0.0.1:8000/hook") is None
    assert targets.url_problem("ftp://127.0.0.1/") is not None
