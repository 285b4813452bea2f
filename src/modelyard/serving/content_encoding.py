"""Compressed request bodies (``Content-Encoding: gzip`` or ``deflate``), as Triton takes them.

``tritonclient`` compresses a request with ``request_compression_algorithm``; the body is
inflated here up to the server's body limit, so a small compressed body cannot become a huge
one in memory.
"""

from __future__ import annotations

import zlib

from modelyard.errors import BadRequest, PayloadTooLarge

__all__ = ["decompressed"]

# zlib's window bits: a gzip header and trailer, or the zlib format HTTP calls "deflate".
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


def decompressed(raw: bytes, encoding: str | None, limit: int) -> bytes:
    """``raw`` as it was before its ``Content-Encoding``; at most ``limit`` bytes (else 413)."""
    name = (encoding or "identity").strip().lower()
    if name == "identity":
        return raw
    wbits = _WBITS.get(name)
    if wbits is None:
        raise BadRequest(f"Content-Encoding {encoding!r} is not supported (gzip, deflate)")
    inflater = zlib.decompressobj(wbits)
    try:
        body = inflater.decompress(raw, limit)
    except zlib.error as exc:
        raise BadRequest(f"the body is not valid {name} data: {exc}") from exc
    if inflater.unconsumed_tail:
        raise PayloadTooLarge(f"the {name} body inflates beyond {limit} bytes")
    if not inflater.eof:
        raise BadRequest(f"the {name} body is cut short")
    return body
