"""``okta-guard request``: call an API with a stored credential's service token.

A small curl/httpie for protected APIs: the token comes from the credential (or the
same flags and ``OKTA_*`` variables as ``okta-guard token``), and a DPoP-bound token
goes out as ``Authorization: DPoP`` with a fresh proof, nonces handled::

    okta-guard request --credential orders https://api.example.com/orders
    okta-guard request -c orders POST https://api.example.com/orders --json '{"item": "tea"}'
    okta-guard request -c orders DELETE https://api.example.com/orders/7 -H 'If-Match: "3"'

Prints the status line, the response headers and the body (JSON pretty-printed).
Exit status 0, or 1 with ``--fail`` when the API answered 400 or more.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["register"]

_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def register(subparsers: Any) -> None:
    """Add the ``request`` command."""
    from okta_guard.cli.token import add_client_arguments

    parser = subparsers.add_parser(
        "request",
        help="call an API with a service token (Bearer or DPoP)",
        description=(
            "Make one authenticated HTTP request with the service token of a stored "
            "credential (--credential) or of flags / OKTA_* variables. DPoP-bound tokens "
            "get a fresh DPoP proof. Prints status, headers and body."
        ),
    )
    parser.add_argument(
        "target", nargs="+", metavar="[METHOD] URL", help="HTTP method (default GET) and URL"
    )
    parser.add_argument(
        "--header",
        "-H",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="a request header (repeatable)",
    )
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--json", metavar="JSON", help="a JSON body (sets Content-Type)")
    body.add_argument("--data", metavar="TEXT", help="a raw body; @PATH reads a file")
    parser.add_argument("--fail", action="store_true", help="exit 1 if the status is >= 400")
    parser.add_argument(
        "--allow-http",
        action="store_true",
        help="allow plain http to a non-loopback host (the token travels in clear)",
    )
    add_client_arguments(parser)
    parser.set_defaults(func=_run)


def _parse_target(parts: list[str], has_body: bool) -> tuple[str, str]:
    from okta_guard.errors import ConfigurationError

    if len(parts) == 1:
        return ("POST" if has_body else "GET"), parts[0]
    if len(parts) == 2 and parts[0].upper() in _METHODS:
        return parts[0].upper(), parts[1]
    raise ConfigurationError(
        f"Expected [METHOD] URL, e.g. 'GET https://api.example.com/orders' "
        f"(methods: {', '.join(_METHODS)})."
    )


def _check_url(url: str, allow_http: bool) -> None:
    from urllib.parse import urlsplit

    from okta_guard.errors import ConfigurationError
    from okta_guard.settings import is_loopback_host

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{url!r} is not an absolute http(s) URL.")
    if parts.scheme == "http" and not allow_http and not is_loopback_host(parts.hostname):
        raise ConfigurationError(
            f"Refusing to send a token in clear to {parts.hostname}: use https "
            "(or --allow-http if you really mean it)."
        )


def _headers(values: list[str]) -> list[tuple[str, str]]:
    from okta_guard.errors import ConfigurationError

    headers = []
    for value in values:
        name, sep, rest = value.partition(":")
        name = name.strip()
        if not sep or not name or any(c in name for c in " \t\r\n") or "\n" in rest:
            raise ConfigurationError(f"Header {value!r} is not 'Name: value'.")
        if name.lower() in ("authorization", "dpop"):
            raise ConfigurationError(f"okta-guard sets the {name} header itself; drop -H {name}.")
        headers.append((name, rest.strip()))
    return headers


def _body(args: argparse.Namespace) -> tuple[bytes | None, str | None]:
    import json
    from pathlib import Path

    from okta_guard.errors import ConfigurationError

    if args.json is not None:
        try:
            json.loads(args.json)
        except ValueError:
            raise ConfigurationError("--json is not valid JSON.") from None
        return args.json.encode(), "application/json"
    if args.data is not None:
        if args.data.startswith("@"):
            try:
                return Path(args.data[1:]).expanduser().read_bytes(), None
            except OSError as exc:
                where = args.data[1:]
                raise ConfigurationError(f"Cannot read {where!r}: {exc.strerror}.") from None
        return args.data.encode(), None
    return None, None


def _show(response: Any) -> None:
    import json

    print(f"{response.http_version} {response.status_code} {response.reason_phrase}")
    for name, value in response.headers.multi_items():
        print(f"{name}: {value}")
    print()
    body: bytes = response.content
    if not body:
        return
    if "json" in response.headers.get("content-type", ""):
        try:
            print(json.dumps(json.loads(body), indent=2, ensure_ascii=False))
            return
        except ValueError:
            pass
    sys.stdout.write(body.decode("utf-8", "replace"))
    if not body.endswith(b"\n"):
        print()


def _run(args: argparse.Namespace) -> int:
    import httpx

    from okta_guard.cli.token import build_client
    from okta_guard.errors import ConfigurationError

    content, content_type = _body(args)
    method, url = _parse_target(args.target, content is not None)
    _check_url(url, args.allow_http)
    headers = _headers(args.header)
    if content_type and not any(n.lower() == "content-type" for n, _ in headers):
        headers.append(("Content-Type", content_type))
    with build_client(args) as client:
        with httpx.Client(auth=client.auth, timeout=args.timeout, follow_redirects=False) as http:
            try:
                response = http.request(method, url, headers=headers, content=content)
            except httpx.HTTPError as exc:
                raise ConfigurationError(
                    f"The request to {url} failed ({type(exc).__name__}): check the URL."
                ) from None
        token = client.cached_token
        if token is not None and token.token_type == "DPoP":
            print("# sent as 'Authorization: DPoP' with a fresh DPoP proof", file=sys.stderr)
    _show(response)
    return 1 if args.fail and response.status_code >= 400 else 0
