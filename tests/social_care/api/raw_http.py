"""A minimal HTTP/1.1 client over a socket, for requests no client library will send (non-UTF-8 headers, raw paths)."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def strict_json(self) -> object:
        """The body parsed as strict JSON: UTF-8, and no NaN or Infinity (which Python's parser accepts)."""
        def refuse(literal: str) -> object:
            raise ValueError(f"{literal} is not JSON")
        return json.loads(self.body.decode("utf-8"), parse_constant=refuse)


async def send(host: str, port: int, method: str, target: bytes | str, *,
               headers: Sequence[tuple[bytes, bytes]] = (), body: bytes = b"") -> RawResponse:
    """Send one request exactly as given (`Connection: close`) and read the whole response."""
    if isinstance(target, str):
        target = target.encode("ascii")
    head = [method.encode("ascii") + b" " + target + b" HTTP/1.1", b"Host: " + host.encode("ascii"),
            b"Connection: close", b"Content-Length: " + str(len(body)).encode("ascii")]
    head += [name + b": " + value for name, value in headers]
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip().lower()] = value.strip()
    if parsed.get("transfer-encoding") == "chunked":
        payload = _unchunk(payload)
    return RawResponse(int(status_line.split()[1]), parsed, payload)


def _unchunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += data[:size]
        data = data[size + 2:]
    return bytes(out)
