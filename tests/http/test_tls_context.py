"""The shared client TLS context: one per setting and CA location, checked unless told not to."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.tls import _context, client_context


@pytest.fixture(autouse=True)
def fresh_contexts() -> Iterator[None]:
    _context.cache_clear()
    yield
    _context.cache_clear()


def test_a_checking_context_requires_a_trusted_certificate_for_the_host_name() -> None:
    context = client_context()
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname


def test_verify_false_checks_neither_the_certificate_nor_the_name() -> None:
    context = client_context(verify=False)
    assert context.verify_mode is ssl.CERT_NONE
    assert not context.check_hostname
    assert client_context().verify_mode is ssl.CERT_REQUIRED  # the other setting is untouched


def test_the_same_setting_gets_the_same_context() -> None:
    assert client_context() is client_context()
    assert client_context(verify=False) is client_context(verify=False)


def test_another_ca_file_in_the_environment_gets_a_context_of_its_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    before = client_context()
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "missing-ca.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    other = client_context()
    assert other is not before
    assert other.cert_store_stats()["x509_ca"] == 0  # it read the other (missing) file
    monkeypatch.undo()  # the environment as it was
    assert client_context() is before
