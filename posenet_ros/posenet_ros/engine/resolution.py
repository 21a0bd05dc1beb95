"""Input sizes as people type them: '257' (square) or '353x481' (height x width)."""
from __future__ import annotations

import re

_RESOLUTION = re.compile(r'\s*(\d+)\s*(?:[xX]\s*(\d+)\s*)?')


def parse_resolution(text: str | int) -> tuple[int, int]:
    """
    '257' -> (257, 257); '353x481' -> (353, 481), height x width as the reference files name them.

    ValueError saying what is expected for anything else.
    """
    match = _RESOLUTION.fullmatch(str(text))
    height = int(match.group(1)) if match else 0
    width = int(match.group(2)) if match and match.group(2) else height
    if min(height, width) < 1:
        raise ValueError(f'resolution must be N or HxW in pixels (e.g. 257 or 353x481), '
                         f'got {text!r}')
    return height, width


def resolution_label(height: int, width: int) -> str:
    """Return the inverse of `parse_resolution`: '257' for a square, '353x481' otherwise."""
    return str(height) if height == width else f'{height}x{width}'
