"""
Small array helpers for the per-frame people steps (3D, tracking, smoothing).

NumPy reduces over a short last axis, as in `np.isfinite(points).all(axis=-1)` on (..., 2) or
(..., 3) points, one short row at a time, which costs several microseconds even for ten people;
combining the coordinates one by one is a vectorised pass per coordinate with the same result.
"""
from __future__ import annotations

import numpy as np


def all_of_last(mask: np.ndarray) -> np.ndarray:
    """Return mask.all(axis=-1) of a boolean array."""
    if mask.shape[-1] not in (2, 3):
        return mask.all(axis=-1)
    out = mask[..., 0] & mask[..., 1]
    if mask.shape[-1] == 3:
        out &= mask[..., 2]
    return out


def all_finite(points: np.ndarray) -> np.ndarray:
    """Return np.isfinite(points).all(axis=-1): which points (..., D) have every coordinate."""
    return all_of_last(np.isfinite(points))


def norm_of_last(vectors: np.ndarray) -> np.ndarray:
    """
    Return np.linalg.norm(vectors, axis=-1, keepdims=True), bit for bit.

    NumPy adds the squares of a (..., 2) or (..., 3) row in order, as done here.
    """
    if vectors.shape[-1] not in (2, 3):
        return np.linalg.norm(vectors, axis=-1, keepdims=True)
    squares = vectors * vectors
    total = squares[..., 0] + squares[..., 1]
    if vectors.shape[-1] == 3:
        total += squares[..., 2]
    return np.sqrt(total)[..., None]
