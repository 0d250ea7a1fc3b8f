"""The frame codec between the worker pool and a worker process: a 4-byte big-endian length, then
JSON. The pool decodes incrementally from its event loop (``FrameDecoder``); the worker, a plain
blocking loop, reads one frame at a time (``read_frame``). No asyncio here: the worker imports this
module on its cold start."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

HEADER = 4
MAX_FRAME = 1 << 30


def encode_frame(obj: Any, *, allow_nan: bool = True) -> bytes:
    """``allow_nan=False`` for a handler's result: Lambda refuses NaN and Infinity (MarshalError)."""
    body = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=allow_nan).encode()
    return len(body).to_bytes(HEADER, "big") + body


class FrameDecoder:
    """Frame bodies out of a byte stream fed in arbitrary chunks."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._need = -1

    def feed(self, data: bytes) -> Iterator[bytes]:
        buf = self._buf
        buf += data
        while True:
            if self._need < 0:
                if len(buf) < HEADER:
                    return
                self._need = int.from_bytes(buf[:HEADER], "big")
                del buf[:HEADER]
            if len(buf) < self._need:
                return
            if len(buf) == self._need:
                body = bytes(buf)
                buf.clear()
            else:
                body = bytes(buf[: self._need])
                del buf[: self._need]
            self._need = -1
            yield body


def read_exact(fd: int, n: int) -> bytearray:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = os.readv(fd, [view[got:]])
        if k == 0:
            raise EOFError
        got += k
    return buf


def read_frame(fd: int) -> Any:
    """One frame from a blocking fd; ``EOFError`` when the other side closed it."""
    size = int.from_bytes(read_exact(fd, HEADER), "big")
    if size > MAX_FRAME:
        raise ValueError(f"frame of {size} bytes")
    return json.loads(read_exact(fd, size))


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
