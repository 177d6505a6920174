"""Untrusted text made safe for a terminal: certificate names, file names, config values.

A certificate's CN, a file name or a server's banner can hold ESC sequences, BEL, newlines
or U+202E (right-to-left override); printed raw they recolour the terminal, forge report
lines or reverse what a line seems to say. Each such character becomes a visible escape."""

from __future__ import annotations

import re

# C0 and C1 controls, DEL, bidi embeddings/overrides/isolates and marks, line and paragraph
# separators, and the lone surrogates that stand for undecodable bytes of a file name.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte surrogateescape kept from a file name
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: str) -> str:
    """`text` with every control, bidi and undecodable character shown as an escape."""
    return _UNSAFE.sub(_escaped, text)
