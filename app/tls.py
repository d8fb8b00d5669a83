"""The TLS context of every outgoing connection (SMTP, IMAP, webhooks, SNS certificates).

Making one loads the system's CA certificates, about 40 ms of CPU: each SMTP connection of
every dispatcher pass paid it before its first message, and each webhook call before its
request. One context per process, setting and CA location is made on first use and shared;
a context is safe to share between threads. A changed CA bundle is read after a restart,
or at once when SSL_CERT_FILE or SSL_CERT_DIR names another one.
"""

from __future__ import annotations

import functools
import os
import ssl


def client_context(verify: bool = True) -> ssl.SSLContext:
    """A client context that checks the server's certificate and name, unless `verify` is
    False (an SMTP URL's `verify=false`, for a server with a self-signed certificate)."""
    return _context(verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.lru_cache(maxsize=8)  # two settings, and rarely another CA location
def _context(verify: bool, cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """`cert_file` and `cert_dir` are only the cache's key: OpenSSL reads them itself."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
