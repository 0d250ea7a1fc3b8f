"""Text fields as pydantic types: no control characters unless a field is meant to hold them.

A NUL, CR or LF in a name or a payment purpose is never what a citizen meant, and it breaks what
reads the text later (a letter, a CSV export, a log line, a header). ``SINGLE_LINE`` refuses every C0
and C1 control character, DEL, the Unicode line and paragraph separators, and lone surrogates (which
cannot be stored as UTF-8); ``MULTILINE`` allows LF and TAB (and reads a CR LF pair as LF).

Put the marker last in a field's ``Annotated`` so the check runs before the constraints (pydantic
runs a before-validator ahead of what it wraps) and the constraints stay native (``maxLength`` in the
schema, pydantic's own messages)::

    Purpose = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), SINGLE_LINE]

Surrounding whitespace is no excuse for a control character: ``"rent\\n"`` is refused, not silently
stripped. The JSON Schema of such a field carries a ``pattern`` saying the same (docs/openapi.json
then promises nothing the server refuses). Imported by windows' ``models.py`` only (pydantic is not
loaded by a GET).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

_REFUSED = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_REFUSED_MULTILINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# The same rule for the JSON Schema (ECMA-262 and Python ``re`` read it alike).
SINGLE_LINE_PATTERN = r"^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$"
MULTILINE_PATTERN = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]*$"
# A stripped field with a minimum length holds a character that is not whitespace, too.
_LINE_CHAR = r"[^\u0000-\u001f\u007f-\u009f\u2028\u2029]"
NONBLANK_LINE_PATTERN = rf"^{_LINE_CHAR}*[^\s\u0000-\u001f\u007f-\u009f\u2028\u2029]{_LINE_CHAR}*$"


def _describe(char: str) -> str:
    names = {"\x00": "NUL", "\r": "CR", "\n": "LF", "\t": "TAB", "\x7f": "DEL"}
    code = f"U+{ord(char):04X}"
    return f"{code} ({names[char]})" if char in names else code


def refuse_control_characters(value: object, *, multiline: bool = False) -> object:
    """``value`` unchanged, or ``ValueError`` naming the first refused character and where it is.

    Anything but a ``str`` passes through: the field's own type check answers that.
    """
    if not isinstance(value, str):
        return value
    if multiline:
        value = value.replace("\r\n", "\n")
    found = (_REFUSED_MULTILINE if multiline else _REFUSED).search(value)
    if found is not None:
        kind = "a surrogate" if "\ud800" <= found.group() <= "\udfff" else "a control character"
        raise ValueError(f"must not contain {kind}: {_describe(found.group())} at position {found.start()}")
    return value


@dataclass(frozen=True)
class NoControlCharacters:
    """A pydantic annotation: the string holds no refused character (LF and TAB allowed if ``multiline``).

    ``blank=False`` only changes the schema: a field that strips whitespace and has a minimum length
    refuses a blank string, and its ``pattern`` then says so (the constraint itself refuses it)."""

    multiline: bool = False
    blank: bool = True

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        check = functools.partial(refuse_control_characters, multiline=self.multiline)
        return core_schema.no_info_before_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        target = handler.resolve_ref_schema(json_schema)
        if target.get("type") == "string" and "pattern" not in target:
            if self.multiline:
                target["pattern"] = MULTILINE_PATTERN
            else:
                target["pattern"] = SINGLE_LINE_PATTERN if self.blank else NONBLANK_LINE_PATTERN
        return json_schema


SINGLE_LINE = NoControlCharacters()
NONBLANK_LINE = NoControlCharacters(blank=False)  # with strip_whitespace and min_length >= 1
MULTILINE = NoControlCharacters(multiline=True)
