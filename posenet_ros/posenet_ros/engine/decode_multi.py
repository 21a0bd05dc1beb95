"""
Multi-person decoding: PersonLab's fast greedy decoder, as tfjs-models posenet 2.x runs it.

Root candidates are local maxima of the 17 heatmaps. They are taken in decreasing score order;
a candidate close to the same part of an already found person is skipped (part-based NMS);
otherwise a whole person is grown from it along the part tree, following the displacement
heads and refining each keypoint with the short-range offsets.

Results match the original to the last bit: JavaScript does its arithmetic in float64 on the
float32 values of the network's buffers, and so does this module. Work that touches whole
heatmaps (finding candidates, ordering them, suppressing them) is vectorised with NumPy; the
walk along the tree, 16 dependent steps per person, runs on plain Python floats.
"""
from __future__ import annotations

import math

import numpy as np

from .decode_common import (check_network_outputs, check_output_stride, float32_at_least,
                            js_round_clamped, sequential_sum)
from .parts import NUM_EDGES, NUM_KEYPOINTS, POSE_CHAIN
from .types import Pose

# A cell is a root candidate if no cell within this many cells (Chebyshev) scores higher.
LOCAL_MAXIMUM_RADIUS = 1
# How many times a walked-to keypoint is re-anchored on the offsets of the cell it lands in.
OFFSET_REFINE_STEPS = 2


def _walk_plan(root_part: int) -> tuple[tuple[int, int, int, bool], ...]:
    """
    Return the (edge, source part, target part, forward) steps that grow a person from root_part.

    First up the tree (edges last to first, child -> parent, backward displacements), then down
    (edges first to last, parent -> child, forward displacements); a part is reached once.
    """
    known = {root_part}
    steps = []
    for edge in range(NUM_EDGES - 1, -1, -1):
        parent, child = POSE_CHAIN[edge]
        if child in known and parent not in known:
            steps.append((edge, child, parent, False))
            known.add(parent)
    for edge in range(NUM_EDGES):
        parent, child = POSE_CHAIN[edge]
        if parent in known and child not in known:
            steps.append((edge, parent, child, True))
            known.add(child)
    return tuple(steps)


WALK_PLANS = tuple(_walk_plan(part) for part in range(NUM_KEYPOINTS))


def find_root_candidates(heatmap_scores: np.ndarray, score_threshold: float) -> np.ndarray:
    """
    Flat indices (into the (h, w, 17) heatmap) of the root candidates, in row-major order.

    A candidate scores at least `score_threshold` and no cell of its 3x3 window (clamped to the
    grid) of the same part scores strictly higher. Row-major (y, x, part) is the order in which
    tfjs pushes them on its heap, which matters when scores tie.
    """
    height, width, parts = heatmap_scores.shape
    padded = np.full((height + 2, width + 2, parts), -np.inf, dtype=np.float32)
    padded[1:-1, 1:-1] = heatmap_scores
    rows = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])
    window_max = np.maximum(np.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
    # The threshold is a float64 in JavaScript; compare against the float32 at or above it.
    is_candidate = (heatmap_scores >= float32_at_least(score_threshold)) & (
        heatmap_scores >= window_max)
    return np.flatnonzero(is_candidate)


def max_heap_pop_order(scores: np.ndarray) -> np.ndarray:
    """
    Positions of `scores` in the order tfjs's MaxHeap (multi_pose/max_heap.ts) pops them.

    The heap pops in non-increasing score order; among equal scores its order depends on the
    heap's history. Without ties any descending sort gives the same sequence, so the Python
    emulation of the heap only runs when two candidates share a score.
    """
    count = len(scores)
    if np.unique(scores).size == count:
        return np.argsort(-scores, kind='stable')
    values = scores.tolist()
    heap: list[int] = []
    for item in range(count):  # enqueue: append, then swim up while the parent is smaller
        heap.append(item)
        k = len(heap) - 1
        while k > 0 and values[heap[k // 2]] < values[heap[k]]:
            heap[k // 2], heap[k] = heap[k], heap[k // 2]
            k //= 2
    order = []
    last = count - 1  # index of the last element, as the original's numberOfElements
    while last >= 0:  # dequeue: swap top with last, shrink, sink the new top
        order.append(heap[0])
        heap[0], heap[last] = heap[last], heap[0]
        last -= 1
        k = 0
        while 2 * k <= last:
            j = 2 * k
            if j < last and values[heap[j]] < values[heap[j + 1]]:
                j += 1
            if not values[heap[k]] < values[heap[j]]:
                break
            heap[k], heap[j] = heap[j], heap[k]
            k = j
    return np.asarray(order, dtype=np.intp)


def _grow_pose(root_part, root_y, root_x, root_score, heatmap_scores, offsets,
               displacements_fwd, displacements_bwd, stride):
    """Walk the part tree from a root: lists of 17 y, 17 x and 17 scores (Python floats)."""
    last_y, last_x = heatmap_scores.shape[0] - 1, heatmap_scores.shape[1] - 1
    score_at = heatmap_scores.item
    offset_at = offsets.item
    cell = js_round_clamped
    ys = [0.0] * NUM_KEYPOINTS
    xs = [0.0] * NUM_KEYPOINTS
    scores = [0.0] * NUM_KEYPOINTS
    ys[root_part], xs[root_part], scores[root_part] = root_y, root_x, root_score
    for edge, source, target, forward in WALK_PLANS[root_part]:
        displacement_at = displacements_fwd.item if forward else displacements_bwd.item
        y, x = ys[source], xs[source]
        # Follow the displacement read at the cell nearest the source keypoint ...
        cell_y, cell_x = cell(y / stride, last_y), cell(x / stride, last_x)
        y += displacement_at(cell_y, cell_x, edge)
        x += displacement_at(cell_y, cell_x, NUM_EDGES + edge)
        # ... then snap to the nearest cell's own estimate of the target part, twice.
        for _ in range(OFFSET_REFINE_STEPS):
            cell_y, cell_x = cell(y / stride, last_y), cell(x / stride, last_x)
            y = cell_y * stride + offset_at(cell_y, cell_x, target)
            x = cell_x * stride + offset_at(cell_y, cell_x, NUM_KEYPOINTS + target)
        ys[target], xs[target] = y, x
        scores[target] = score_at(cell(y / stride, last_y), cell(x / stride, last_x), target)
    return ys, xs, scores


def decode_multiple_poses(heatmap_scores: np.ndarray, offsets: np.ndarray,
                          displacements_fwd: np.ndarray, displacements_bwd: np.ndarray,
                          output_stride: int, max_pose_detections: int = 5,
                          score_threshold: float = 0.5, nms_radius: float = 20.0) -> list[Pose]:
    """
    Up to `max_pose_detections` people, in model-input pixels, in the original's order.

    Arrays are one image's network outputs (see `types.NetworkOutputs`). `score_threshold` is
    the least root score; `nms_radius` (model-input pixels) the distance under which a part
    claimed by an earlier person suppresses a root and drops out of a later person's score.
    """
    heatmap_scores, offsets, displacements_fwd, displacements_bwd = check_network_outputs(
        heatmap_scores, offsets, displacements_fwd, displacements_bwd)
    if int(max_pose_detections) != max_pose_detections or max_pose_detections < 1:
        raise ValueError(f'max_pose_detections must be an integer >= 1, got {max_pose_detections}')
    if not math.isfinite(score_threshold):
        raise ValueError(f'score_threshold must be a finite number, got {score_threshold}')
    if not (nms_radius > 0 and math.isfinite(nms_radius)):
        raise ValueError(f'nms_radius must be a positive number of pixels, got {nms_radius}')
    stride = check_output_stride(output_stride)
    squared_nms_radius = float(nms_radius) * float(nms_radius)
    width = heatmap_scores.shape[1]

    flat = find_root_candidates(heatmap_scores, score_threshold)
    flat = flat[max_heap_pop_order(heatmap_scores.reshape(-1)[flat])]
    cells, root_parts = np.divmod(flat, NUM_KEYPOINTS)
    cell_ys, cell_xs = np.divmod(cells, width)
    root_scores = heatmap_scores.reshape(-1)[flat].astype(np.float64)
    # Root positions: cell * stride + offset, in float64 like the original's JavaScript numbers.
    root_ys = cell_ys * stride + offsets[cell_ys, cell_xs, root_parts].astype(np.float64)
    root_xs = cell_xs * stride + offsets[cell_ys, cell_xs, root_parts + NUM_KEYPOINTS].astype(
        np.float64)

    suppressed = np.zeros(len(flat), dtype=bool)
    capacity = min(int(max_pose_detections), len(flat))  # at most one person per root
    found_ys = np.empty((capacity, NUM_KEYPOINTS))
    found_xs = np.empty((capacity, NUM_KEYPOINTS))
    poses: list[Pose] = []
    start = 0
    while len(poses) < max_pose_detections:
        free = np.flatnonzero(~suppressed[start:])
        if free.size == 0:
            break
        i = start + int(free[0])
        start = i + 1
        ys, xs, scores = _grow_pose(
            int(root_parts[i]), float(root_ys[i]), float(root_xs[i]), float(root_scores[i]),
            heatmap_scores, offsets, displacements_fwd, displacements_bwd, stride)
        ys, xs, scores = np.array(ys), np.array(xs), np.array(scores)
        # A keypoint near the same keypoint of an earlier person does not count.
        count = len(poses)
        claimed = (((found_ys[:count] - ys) ** 2 + (found_xs[:count] - xs) ** 2)
                   <= squared_nms_radius).any(axis=0)
        instance_score = sequential_sum(scores[~claimed]) / NUM_KEYPOINTS
        poses.append(Pose(score=instance_score, keypoint_scores=scores,
                          keypoint_coords=np.stack([xs, ys], axis=1)))
        found_ys[count] = ys
        found_xs[count] = xs
        # Later roots near the same part of this person are skipped.
        suppressed |= ((ys[root_parts] - root_ys) ** 2 + (xs[root_parts] - root_xs) ** 2
                       ) <= squared_nms_radius
    return poses
