"""
Flip test: average the network's view of an image with its view of the mirrored image.

The network is run on the preprocessed input and on that input mirrored left-right. The mirrored
run's maps are mapped back onto the plain run's grid (columns reversed, left and right parts and
edges swapped, horizontal vectors negated) and the two are averaged before decoding. Heatmaps
get less noisy and offsets less biased, at the price of a second pass through the network.

Mirroring is exact on PoseNet's grid: input sides are k * stride + 1 and every convolution pads
symmetrically, so output column j of the mirrored input sits over column w - 1 - j of the plain
one, at x = (input_width - 1) - j * stride.
"""
from __future__ import annotations

import numpy as np

from .parts import NUM_EDGES, NUM_KEYPOINTS, PART_IDS, PART_NAMES, POSE_CHAIN
from .types import NetworkOutputs


def _mirror_name(name: str) -> str:
    if name.startswith('left_'):
        return 'right_' + name[len('left_'):]
    if name.startswith('right_'):
        return 'left_' + name[len('right_'):]
    return name


# MIRRORED_PARTS[k]: the part that part k becomes in a mirror image (left <-> right).
MIRRORED_PARTS = np.array([PART_IDS[_mirror_name(name)] for name in PART_NAMES])
# MIRRORED_EDGES[e]: the edge of POSE_CHAIN that edge e becomes in a mirror image.
MIRRORED_EDGES = np.array([
    POSE_CHAIN.index((int(MIRRORED_PARTS[parent]), int(MIRRORED_PARTS[child])))
    for parent, child in POSE_CHAIN])


def _vector_channels(mirrored: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Channel order and sign that bring a (y block, x block) vector map back from a mirror."""
    order = np.concatenate([mirrored, count + mirrored])
    sign = np.concatenate([np.ones(count, np.float32), -np.ones(count, np.float32)])
    return order, sign


_OFFSET_ORDER, _OFFSET_SIGN = _vector_channels(MIRRORED_PARTS, NUM_KEYPOINTS)
_DISPLACEMENT_ORDER, _DISPLACEMENT_SIGN = _vector_channels(MIRRORED_EDGES, NUM_EDGES)


def unmirror_outputs(outputs: NetworkOutputs) -> NetworkOutputs:
    """Express maps computed on a mirrored input on the grid and parts of the plain input."""
    def displacements(maps):
        return maps[:, ::-1, _DISPLACEMENT_ORDER] * _DISPLACEMENT_SIGN

    return NetworkOutputs(
        heatmap_scores=outputs.heatmap_scores[:, ::-1, MIRRORED_PARTS],
        offsets=outputs.offsets[:, ::-1, _OFFSET_ORDER] * _OFFSET_SIGN,
        displacements_fwd=displacements(outputs.displacements_fwd),
        displacements_bwd=displacements(outputs.displacements_bwd))


def average_with_mirror(plain: NetworkOutputs, mirrored: NetworkOutputs) -> NetworkOutputs:
    """Return the mean of the plain run's maps and the mirrored ones brought back (float32)."""
    if plain.heatmap_scores.shape != mirrored.heatmap_scores.shape:
        raise ValueError(f'plain and mirrored grids differ: {plain.heatmap_scores.shape} vs '
                         f'{mirrored.heatmap_scores.shape}')
    back = unmirror_outputs(mirrored)
    return NetworkOutputs(*(
        np.ascontiguousarray((a + b) * np.float32(0.5), dtype=np.float32)
        for a, b in zip((plain.heatmap_scores, plain.offsets, plain.displacements_fwd,
                         plain.displacements_bwd),
                        (back.heatmap_scores, back.offsets, back.displacements_fwd,
                         back.displacements_bwd))))
