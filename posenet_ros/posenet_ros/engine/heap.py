"""
Keep the memory of one frame's large temporaries for the next frame (glibc only).

Preprocessing and decoding allocate arrays of a few MB per frame. glibc serves allocations that
large with a fresh mmap and unmaps them when freed, so every frame pays the page faults of
touching tens of MB anew: 640x480 into a 353x481 input took 6-7 ms instead of 2 ms. Raising
the mmap threshold to 32 MiB (and the trim threshold to 64 MiB) makes them come from the heap
and be reused frame after frame. Called once by the programs that run frames (the node, the
CLI); a library import changes nothing. Elsewhere than glibc it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 2**20
TRIM_THRESHOLD_BYTES = 64 * 2**20


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
    except OSError:
        return None


def return_free_memory() -> None:
    """Give freed heap back to the system (glibc keeps it), so RSS shows a release."""
    libc = _libc()
    if libc is not None and hasattr(libc, 'malloc_trim'):
        libc.malloc_trim(0)


def reuse_frame_memory() -> bool:
    """Tune glibc so per-frame arrays are reused; return whether it could be done."""
    libc = _libc()
    if libc is None or not hasattr(libc, 'mallopt'):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)
                and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
