"""What an uploaded file must be: structurally the type it claims, and a passport photo by the rules.

Magic bytes only say what a file claims to be: the 8-byte PNG signature alone passed as a photo.
Here the header itself is parsed, by hand (a few struct reads keep the Lambda package small):

- PDF: the ``%PDF-x.y`` version header;
- PNG: the signature, then an IHDR chunk first, 13 bytes, CRC intact, a valid bit depth and colour
  type, and dimensions of at least 1 x 1;
- JPEG: SOI, then well-formed marker segments up to a frame header (SOF0-SOF15) that gives
  dimensions of at least 1 x 1 and 1 to 4 components, before any scan (SOS) or EOI.

A passport photo (``kind=photo``) must also meet the digital photo rules the US Department of State
publishes for passport applications (travel.state.gov, "Photo Requirements"; pinned in README.md):

===========  ===================================================
rule         requirement
===========  ===================================================
photo-jpeg   the file is a JPEG
photo-color  the photo is in colour (3 components, not greyscale)
photo-square the height equals the width
photo-min    at least 600 x 600 pixels
photo-max    at most 1200 x 1200 pixels
===========  ===================================================

Every rule a photo breaks is named in one ``PhotoRuleError`` (the window answers 422).
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

PDF, JPEG, PNG = "application/pdf", "image/jpeg", "image/png"
# How much of a stored object is read back to judge it: the JPEG frame header follows the APPn
# segments (each at most 64 KiB: EXIF, ICC profile, XMP), so a quarter mebibyte holds it.
HEAD_BYTES = 256 * 1024

PHOTO_MIN_PIXELS = 600
PHOTO_MAX_PIXELS = 1200

_PDF_HEADER = re.compile(rb"%PDF-[0-9]\.[0-9]")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour type -> the bit depths it allows (PNG spec, 11.2.2 IHDR)
_PNG_DEPTHS = {0: {1, 2, 4, 8, 16}, 2: {8, 16}, 3: {1, 2, 4, 8}, 4: {8, 16}, 6: {8, 16}}
# Frame header markers: SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC)
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length field


class UnacceptableFileError(ValueError):
    """The file cannot be accepted as what it is declared to be."""


class FileStructureError(UnacceptableFileError):
    """The file's header does not parse as the type it claims."""


class PhotoRuleError(UnacceptableFileError):
    """A passport photo breaks one or more of the published photo rules (``rules`` names them)."""

    def __init__(self, violations: list[tuple[str, str]]) -> None:
        self.rules = tuple(rule for rule, _ in violations)
        summary = "; ".join(f"{rule}: {reason}" for rule, reason in violations)
        super().__init__(f"the passport photo breaks {len(violations)} photo rule(s): {summary}")


@dataclass(frozen=True)
class Structure:
    """What a file's header says: its type and, for an image, its size in pixels."""

    content_type: str
    width: int | None = None
    height: int | None = None
    components: int | None = None


def inspect(head: bytes, content_type: str, *, complete: bool = True) -> Structure:
    """The structure of a file whose first bytes are ``head``, or ``FileStructureError``.

    ``complete`` says whether ``head`` is the whole file (else a header cut short may continue).
    """
    if content_type == PDF:
        if not _PDF_HEADER.match(head):
            raise FileStructureError("the PDF has no %PDF-x.y version header")
        return Structure(PDF)
    if content_type == PNG:
        return _png(head)
    if content_type == JPEG:
        return _jpeg(head, complete=complete)
    raise FileStructureError(f"{content_type} is not a type whose structure is known")


def photo_violations(structure: Structure) -> list[tuple[str, str]]:
    """Each passport photo rule ``structure`` breaks, as (rule, reason); empty when it meets them all."""
    broken: list[tuple[str, str]] = []
    if structure.content_type != JPEG:
        broken.append(("photo-jpeg", f"a passport photo must be a JPEG, not {structure.content_type}"))
    if structure.width is None or structure.height is None:
        return broken
    w, h = structure.width, structure.height
    if structure.content_type == JPEG and structure.components != 3:
        broken.append(("photo-color", "a passport photo must be in colour, not greyscale"))
    if w != h:
        broken.append(("photo-square", f"a passport photo must be square; it is {w} x {h} pixels"))
    if min(w, h) < PHOTO_MIN_PIXELS:
        broken.append(
            ("photo-min", f"at least {PHOTO_MIN_PIXELS} x {PHOTO_MIN_PIXELS} pixels; it is {w} x {h}")
        )
    if max(w, h) > PHOTO_MAX_PIXELS:
        broken.append(
            ("photo-max", f"at most {PHOTO_MAX_PIXELS} x {PHOTO_MAX_PIXELS} pixels; it is {w} x {h}")
        )
    return broken


def check(head: bytes, content_type: str, *, kind: str, complete: bool = True) -> Structure:
    """``inspect`` the file, then, for a passport photo, the photo rules: ``FileStructureError``,
    ``PhotoRuleError`` (naming every rule broken), or the structure."""
    structure = inspect(head, content_type, complete=complete)
    if kind == "photo":
        broken = photo_violations(structure)
        if broken:
            raise PhotoRuleError(broken)
    return structure


def _png(data: bytes) -> Structure:
    if not data.startswith(_PNG_SIGNATURE):
        raise FileStructureError("the PNG signature is missing")
    if len(data) < 33:
        raise FileStructureError("the PNG ends before its IHDR header chunk")
    length, chunk = struct.unpack(">I4s", data[8:16])
    if chunk != b"IHDR" or length != 13:
        raise FileStructureError("the PNG does not start with a 13-byte IHDR header chunk")
    body = data[16:29]
    (crc,) = struct.unpack(">I", data[29:33])
    if zlib.crc32(b"IHDR" + body) != crc:
        raise FileStructureError("the PNG's IHDR header chunk is corrupt (CRC mismatch)")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", body)
    if not (0 < width < 2**31 and 0 < height < 2**31):
        raise FileStructureError(f"the PNG's dimensions {width} x {height} are not valid")
    if depth not in _PNG_DEPTHS.get(colour, ()) or compression or filtering or interlace > 1:
        raise FileStructureError("the PNG's IHDR header holds an invalid pixel format")
    return Structure(PNG, width, height)


def _jpeg(data: bytes, *, complete: bool) -> Structure:
    if not data.startswith(b"\xff\xd8"):
        raise FileStructureError("the JPEG start-of-image marker is missing")
    i, end = 2, len(data)
    while True:
        if i >= end:
            where = "the file ends" if complete else f"the first {end} bytes end"
            raise FileStructureError(f"the JPEG has no frame header (dimensions): {where} before one")
        if data[i] != 0xFF:
            raise FileStructureError(f"the JPEG header is malformed at byte {i} (a marker was expected)")
        while i < end and data[i] == 0xFF:  # fill bytes may precede a marker
            i += 1
        if i >= end:
            continue
        marker = data[i]
        i += 1
        if marker in _STANDALONE:
            continue
        if marker in (0xD9, 0xDA, 0xD8, 0x00):  # EOI, SOS, a second SOI, a stuffed byte
            raise FileStructureError("the JPEG has no frame header (dimensions) before its image data")
        if i + 2 > end:
            i = end  # cut short: reported at the top of the loop
            continue
        (length,) = struct.unpack(">H", data[i : i + 2])
        if length < 2:
            raise FileStructureError(f"the JPEG header is malformed at byte {i} (segment length {length})")
        if marker in _SOF:
            if i + 8 > end:
                i = end
                continue
            _, height, width, components = struct.unpack(">BHHB", data[i + 2 : i + 8])
            if width == 0 or height == 0:
                raise FileStructureError(f"the JPEG's dimensions {width} x {height} are not valid")
            if not 1 <= components <= 4 or length != 8 + 3 * components:
                raise FileStructureError("the JPEG's frame header is malformed")
            return Structure(JPEG, width, height, components)
        i += length
