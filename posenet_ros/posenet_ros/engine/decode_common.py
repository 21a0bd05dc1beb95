"""
What both decoders share: input checks and JavaScript's number semantics.

tfjs-models reads float32 tensor buffers into JavaScript numbers (float64) and does all its
decoding arithmetic on those. These helpers reproduce the few places where that differs from
what NumPy would do by default.
"""
from __future__ import annotations

import math

import numpy as np

from .parts import NUM_EDGES, NUM_KEYPOINTS


def js_round(value: float) -> int:
    """
    Round as JavaScript's Math.round: the nearest integer, halves up (towards +infinity).

    Written as floor plus a comparison rather than floor(value + 0.5), which is wrong for the
    float just below one half (0.49999999999999994 + 0.5 rounds to 1.0).
    """
    floor = math.floor(value)
    return floor + 1 if value - floor >= 0.5 else floor


def js_round_clamped(value: float, high: int) -> int:
    """js_round(value) clamped to [0, high]: the grid cell nearest a point (hot: one call)."""
    floor = math.floor(value)
    if value - floor >= 0.5:
        floor += 1
    return 0 if floor < 0 else (high if floor > high else floor)


def float32_at_least(threshold: float) -> np.float32:
    """Return the smallest float32 >= threshold: `float32_array >= it` equals a float64 test."""
    bound = np.float32(threshold)
    if float(bound) < threshold:
        bound = np.nextafter(bound, np.float32(np.inf))
    return bound


def sequential_sum(values) -> float:
    """Left-to-right float64 sum, as JavaScript's `+=` loop (NumPy's sum is pairwise)."""
    total = 0.0
    for value in np.asarray(values, dtype=np.float64).tolist():
        total += value
    return total


def _as_map(name: str, array, channels: int, grid: tuple[int, int] | None) -> np.ndarray:
    array = np.asarray(array, dtype=np.float32)
    if array.ndim != 3 or array.shape[2] != channels:
        raise ValueError(
            f'{name} must be a (height, width, {channels}) array, got shape {array.shape}')
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f'{name} has an empty grid: shape {array.shape}')
    if grid is not None and array.shape[:2] != grid:
        raise ValueError(
            f'{name} grid {array.shape[:2]} differs from the heatmap grid {grid}')
    if not np.isfinite(array).all():
        raise ValueError(f'{name} holds NaN or infinite values: the network output is broken '
                         '(corrupt weights or input?)')
    return array


def check_network_outputs(heatmap_scores, offsets, displacements_fwd=None,
                          displacements_bwd=None) -> tuple[np.ndarray, ...]:
    """Return the maps as float32 arrays, or ValueError saying which one is malformed and how."""
    heatmap_scores = _as_map('heatmap_scores', heatmap_scores, NUM_KEYPOINTS, None)
    grid = heatmap_scores.shape[:2]
    checked = [heatmap_scores, _as_map('offsets', offsets, 2 * NUM_KEYPOINTS, grid)]
    for name, array in (('displacements_fwd', displacements_fwd),
                        ('displacements_bwd', displacements_bwd)):
        if array is not None:
            checked.append(_as_map(name, array, 2 * NUM_EDGES, grid))
    return tuple(checked)


def check_output_stride(output_stride) -> int:
    """Return the stride as an int, or ValueError: a wrong stride misplaces every point."""
    if isinstance(output_stride, bool) or int(output_stride) != output_stride or output_stride < 1:
        raise ValueError(f'output_stride must be a positive integer, got {output_stride!r}')
    return int(output_stride)
