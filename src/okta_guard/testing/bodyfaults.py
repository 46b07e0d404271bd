"""Misbehaving answers for the mock's faults: compression bombs and patched key sets.

A *bomb* is a small ``gzip`` or ``deflate`` body that inflates to ``N`` bytes:
the real answer followed by JSON whitespace, so a client without a cap on the
decoded size parses a valid (huge) document.  It is assembled from a few
repeated, independently compressed deflate blocks, so making a 200 MB bomb
costs about 200 KB of memory and a fraction of a second, and is cached.
"""

from __future__ import annotations

import functools
import json
import struct
import zlib
from collections.abc import Mapping
from typing import Any

from .records import MockResponse
from .tokens import OMIT

__all__ = ["ENCODINGS", "MAX_BOMB", "bomb_body", "check_body_faults", "make_bomb", "patch_keys"]

ENCODINGS = ("gzip", "deflate")
"""``Content-Encoding`` values a bomb can use (``deflate`` is the zlib format, RFC 9110)."""

MAX_BOMB = 1 << 32
"""The largest inflated size a bomb may have (4 GiB)."""

_CHUNK = 1 << 20
_PAD = b" "


def check_body_faults(
    endpoint: str,
    *,
    delay: float,
    disconnect: bool,
    drip: float,
    stall: bool,
    bomb: int | None,
    encoding: str,
    keys_patch: Mapping[str, Any] | None,
) -> None:
    """Refuse values and combinations of faults that cannot happen (``ValueError``)."""
    if drip < 0 or delay < 0:
        raise ValueError("drip and delay must be >= 0 seconds")
    if sum([bool(drip), bool(stall), bool(disconnect)]) > 1:
        raise ValueError("choose one of drip, stall and disconnect")
    if bomb is not None:
        if not 0 <= bomb <= MAX_BOMB:
            raise ValueError(f"bomb must be between 0 and {MAX_BOMB} bytes")
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}")
    if keys_patch is not None:
        if endpoint not in ("keys", "*"):
            raise ValueError("keys_patch applies to the 'keys' endpoint")
        if not isinstance(keys_patch, Mapping):
            raise TypeError("keys_patch must be a mapping of JWK members")


def patch_keys(response: MockResponse, patch: Mapping[str, Any]) -> None:
    """Merge ``patch`` into every key of a ``/v1/keys`` answer (``OMIT`` removes)."""
    try:
        document = json.loads(response.body)
    except ValueError:
        return  # a body given to the fault that is not JSON: nothing to patch
    keys = document.get("keys") if isinstance(document, dict) else None
    for jwk in keys if isinstance(keys, list) else []:
        if not isinstance(jwk, dict):
            continue
        for name, value in patch.items():
            if value is OMIT:
                jwk.pop(name, None)
            else:
                jwk[name] = value
    response.body = json.dumps(document, separators=(",", ":")).encode()


def make_bomb(response: MockResponse, size: int, encoding: str) -> None:
    """Replace ``response``'s body by a ``encoding`` bomb inflating to ``size`` bytes."""
    response.body = bomb_body(response.body, size, encoding)
    response.headers["content-encoding"] = encoding
    response.headers.pop("content-length", None)


def _raw_block(data: bytes) -> bytes:
    """``data`` as non-final raw deflate blocks ending on a byte boundary."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush(zlib.Z_FULL_FLUSH)


@functools.lru_cache(maxsize=8)
def bomb_body(prefix: bytes, size: int, encoding: str) -> bytes:
    """A ``gzip``/``deflate`` body inflating to ``prefix`` padded with spaces to ``size``."""
    size = max(size, len(prefix))
    whole, rest = divmod(size - len(prefix), _CHUNK)
    chunk = _PAD * _CHUNK
    tail = _PAD * rest
    deflated = _raw_block(prefix) + _raw_block(chunk) * whole + _raw_block(tail) + b"\x03\x00"
    if encoding == "gzip":
        crc = zlib.crc32(prefix)
        for _ in range(whole):
            crc = zlib.crc32(chunk, crc)
        crc = zlib.crc32(tail, crc)
        header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
        return header + deflated + struct.pack("<II", crc, size & 0xFFFFFFFF)
    adler = zlib.adler32(prefix)
    for _ in range(whole):
        adler = zlib.adler32(chunk, adler)
    adler = zlib.adler32(tail, adler)
    return b"\x78\xda" + deflated + struct.pack(">I", adler)
