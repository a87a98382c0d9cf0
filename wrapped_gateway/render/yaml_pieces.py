"""A YAML stream cut into pieces at document markers, so that the pieces parse apart.

A line that starts with `---` followed by a blank or its end always starts a document: the
YAML spec forbids such a line inside any scalar (c-forbidden), whatever its style or
indentation. So cutting before one never changes a document. Directives (`%YAML`, `%TAG`)
belong to the document after them; a stream holding any is not cut.
"""

import re
from dataclasses import dataclass
from itertools import pairwise

_DOCUMENT_START = re.compile(r"^---(?=[ \t\r\n]|\Z)", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Piece:
    """Whole documents of one file: `text` starts at line `first_line` (0-based) of it."""

    file: str
    text: str
    first_line: int = 0


def pieces(file: str, text: str, size: int) -> list[Piece]:
    """`text` in pieces of about `size` characters, each cut before a document marker."""
    # Substring searches, not the multi-line regular expressions: they scan a large input in a
    # fraction of the time, and this runs before any process can start parsing.
    if len(text) <= size or text.startswith("%") or "\n%" in text:
        return [Piece(file, text)]
    cuts = [0]
    # the last piece may be up to half as long again, rather than a sliver of its own
    while (marker := _DOCUMENT_START.search(text, cuts[-1] + size)) and (
        len(text) - marker.start() >= size // 2
    ):
        cuts.append(marker.start())
    cuts.append(len(text))
    cut_pieces = []
    line = 0
    for start, end in pairwise(cuts):
        cut_pieces.append(Piece(file, text[start:end], line))
        line += text.count("\n", start, end)
    return cut_pieces
