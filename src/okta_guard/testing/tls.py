"""Throw-away TLS for the mock issuer: a local CA and a certificate for loopback names.

Uses ``trustme`` (a dev/test dependency), imported only when TLS is asked for.
Clients that insist on https (such as ``okta-jwt-verifier``) can then talk to the
mock by trusting ``ca_file`` or using ``client_context``.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from dataclasses import dataclass, field

__all__ = ["LocalTLS", "make_local_tls"]


@dataclass
class LocalTLS:
    """A server context, a client context that trusts it, and the CA as a PEM file."""

    server_context: ssl.SSLContext = field(repr=False)
    client_context: ssl.SSLContext = field(repr=False)
    ca_file: str

    def cleanup(self) -> None:
        """Delete the CA file."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.ca_file)


def make_local_tls(host: str = "127.0.0.1") -> LocalTLS:
    """Create a CA and a certificate for ``host``, ``127.0.0.1``, ``::1`` and ``localhost``."""
    try:
        import trustme
    except ImportError:  # pragma: no cover - trustme is a dev dependency
        raise RuntimeError(
            "MockIssuer(tls=True) needs the 'trustme' package: pip install trustme "
            "(or pass your own ssl_context=)"
        ) from None
    ca = trustme.CA()
    names = list(dict.fromkeys([host, "127.0.0.1", "::1", "localhost"]))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(server)
    client = ssl.create_default_context()
    ca.configure_trust(client)
    handle, path = tempfile.mkstemp(prefix="okta-guard-mock-ca-", suffix=".pem")
    with os.fdopen(handle, "wb") as out:
        out.write(ca.cert_pem.bytes())
    return LocalTLS(server, client, path)
