"""Small, real files for the tests: a decodable PNG and JPEG of any size, and a minimal PDF.

Built by hand (no imaging library): the PNG is greyscale with zlib-compressed rows; the JPEG is a
baseline, uniformly grey image whose Huffman tables each hold one symbol, so every 8x8 block is two
bits per component (DC difference 0, end of block). Any decoder reads them.
"""

from __future__ import annotations

import struct
import zlib


def png(width: int = 1, height: int = 1) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = (b"\x00" + b"\x80" * width) * height  # filter 0, mid-grey
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int = 600, height: int = 600, *, components: int = 3, exif: bytes = b"") -> bytes:
    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">BBH", 0xFF, marker, len(body) + 2) + body

    ids = range(1, components + 1)
    out = b"\xff\xd8" + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    if exif:
        out += segment(0xE1, b"Exif\x00\x00" + exif)
    out += segment(0xDB, b"\x00" + b"\x01" * 64)
    sof = struct.pack(">BHHB", 8, height, width, components) + b"".join(bytes([c, 0x11, 0]) for c in ids)
    out += segment(0xC0, sof)
    one_symbol = b"\x01" + b"\x00" * 15 + b"\x00"  # one code of length 1: symbol 0
    out += segment(0xC4, b"\x00" + one_symbol)  # DC table 0: category 0 (difference 0)
    out += segment(0xC4, b"\x10" + one_symbol)  # AC table 0: 0x00, end of block
    out += segment(0xDA, bytes([components]) + b"".join(bytes([c, 0x00]) for c in ids) + b"\x00\x3f\x00")
    blocks = -(-width // 8) * -(-height // 8)
    bits = blocks * components * 2  # "0" (DC) + "0" (EOB) per block and component
    scan = bytearray(bits // 8)
    if bits % 8:
        scan.append(0xFF >> (bits % 8))  # pad the last byte with 1 bits
        if scan[-1] == 0xFF:
            scan.append(0x00)  # byte stuffing
    return out + bytes(scan) + b"\xff\xd9"


def pdf() -> bytes:
    return (
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


PASSPORT_PHOTO = jpeg(600, 600)
