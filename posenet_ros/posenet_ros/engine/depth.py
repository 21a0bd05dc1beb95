"""
People in 3D: keypoint depths from a registered depth image, and a position per person.

A depth image registered to the colour image (same viewpoint and field of view, possibly another
resolution, as a RealSense's aligned depth) holds `16UC1` millimetres or `32FC1` metres (REP 118);
0 and NaN mean no reading. Each keypoint's depth is the median of the readings in a small window
around it within [depth_min, depth_max]. A keypoint at a person's silhouette can see past the
person (an elbow against the wall behind): per person a reference depth is found from the
readings at the keypoints, the limbs' midpoints and the torso's centre (`person_depths`: the
nearest depth well supported by them, since what is not the person at a person's keypoint mostly
lies behind them), and a keypoint further than `max_deviation` from it is measured again from
only the window's readings near the reference, or left without depth when there are too few.
A person's position is the median of their torso keypoints (shoulders, hips) with depth.
"""
from __future__ import annotations

from dataclasses import dataclass
import functools
import math
import numbers

import numpy as np

from .array_ops import all_finite
from .camera_model import CameraModel, map_pixels
from .parts import NUM_KEYPOINTS, PART_IDS, SKELETON

TORSO_PARTS = tuple(PART_IDS[name] for name in
                    ('left_shoulder', 'right_shoulder', 'left_hip', 'right_hip'))
ENCODINGS = ('16UC1', 'mono16', '32FC1')
# How much a depth read at each place counts when finding a person's depth: keypoints 1, torso
# keypoints 2, limb midpoints 1, the torso's centre 2 (see `body_points`).
_READING_WEIGHTS = np.ones(NUM_KEYPOINTS + len(SKELETON) + 1)
_READING_WEIGHTS[list(TORSO_PARTS)] = 2.0
_READING_WEIGHTS[-1] = 2.0
# A nearer depth than the best supported one wins with at least this fraction of its support
# (measured on the COCO depth scenes of test_engine_depth.py: 0.2 puts the fewest keypoints on
# the background with no more wrong ones; docs/people3d.md).
SUPPORT_FRACTION = 0.2
_LIMB_FIRST = np.array([a for a, _ in SKELETON])
_LIMB_SECOND = np.array([b for _, b in SKELETON])
_TORSO_INDEX = np.array(TORSO_PARTS)


@dataclass(frozen=True)
class DepthConfig:
    """
    How keypoint depths are read (distances in metres, window in depth-image pixels).

    window: side of the square around each keypoint (odd). depth_min, depth_max: readings
    outside are ignored. max_deviation: a keypoint further than this from the depth its person's
    keypoints agree on is re-measured or dropped. min_support: least number of readings in the
    window for a depth (of all readings, and of those near the person when re-measuring).
    """

    window: int = 5
    depth_min: float = 0.2
    depth_max: float = 10.0
    max_deviation: float = 0.4
    min_support: int = 3

    def check(self) -> 'DepthConfig':
        # A whole-number float would pass a value check, then fail on every frame (np.take).
        if (isinstance(self.window, bool) or not isinstance(self.window, numbers.Integral)
                or self.window < 1 or self.window % 2 == 0):
            raise ValueError(f'window must be an odd number of pixels >= 1 (an integer), got '
                             f'{self.window!r}')
        if not 0.0 <= self.depth_min < self.depth_max:
            raise ValueError(f'need 0 <= depth_min < depth_max, got {self.depth_min} and '
                             f'{self.depth_max}')
        if not self.max_deviation > 0:
            raise ValueError(f'max_deviation must be > 0 metres, got {self.max_deviation}')
        if not 1 <= self.min_support <= self.window * self.window:
            raise ValueError(f'min_support must be within 1..window*window '
                             f'({self.window * self.window}), got {self.min_support}')
        return self


@dataclass
class People3D:
    """
    Keypoints and people in the camera's optical frame (metres), NaN where unknown.

    keypoints: (N, 17, 3); has_keypoint: (N, 17) bool. positions: (N, 3), the robust centre of
    each person's torso; has_position: (N,) bool.
    """

    keypoints: np.ndarray
    has_keypoint: np.ndarray
    positions: np.ndarray
    has_position: np.ndarray


def depth_in_metres(values: np.ndarray, encoding: str) -> np.ndarray:
    """Raw depth readings as float64 metres with NaN for no reading (0, NaN or inf)."""
    if encoding in ('16UC1', 'mono16'):
        metres = np.asarray(values, dtype=np.float64) * 1e-3
        metres[metres == 0] = np.nan
        return metres
    if encoding == '32FC1':
        metres = np.asarray(values, dtype=np.float64)
        return np.where(np.isfinite(metres) & (metres > 0), metres, np.nan)
    raise ValueError(f'depth encoding {encoding!r} is not supported: use 16UC1 (mm) or 32FC1 (m)')


def window_readings(depth_image: np.ndarray, pixels: np.ndarray, window: int) -> np.ndarray:
    """
    Return the raw readings in a window x window square around each pixel: (..., window**2).

    pixels (..., 2) are (x, y) in the depth image; squares reaching past the border and NaN
    pixels give 0 (no reading) there. Squares inside the image are one gather at fixed offsets
    from their centres, squares wholly outside read nothing, and only those across the border
    are clipped.
    """
    height, width = depth_image.shape[:2]
    half = window // 2
    flat = pixels.reshape(-1, 2)
    xs = np.floor(flat[:, 0] + 0.5)  # NaN stays NaN: neither inside nor across the border
    ys = np.floor(flat[:, 1] + 0.5)
    inside = (xs >= half) & (xs < width - half) & (ys >= half) & (ys < height - half)
    starts = ys * width + xs
    offsets = _window_layout(window, width)[0]
    image = np.ascontiguousarray(depth_image).reshape(-1)
    if inside.all():
        readings = np.take(image, starts.astype(np.intp)[:, None] + offsets)
    else:
        starts = np.where(inside, starts, 0.0).astype(np.intp)  # the others read 0 below
        readings = np.where(inside[:, None],
                            np.take(image, starts[:, None] + offsets, mode='clip'), 0)
        across = ~inside & (xs >= -half) & (xs < width + half) & (ys >= -half) \
            & (ys < height + half)
        if across.any():
            readings[across] = _clipped_window_readings(image, height, width, flat[across],
                                                        window)
    return readings.reshape(pixels.shape[:-1] + (window * window,))


@functools.lru_cache(maxsize=8)
def _window_layout(window: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Offsets of a square's pixels from its centre, row by row, made once per size.

    Flat-index offsets in an image `width` pixels wide, column offsets and row offsets.
    """
    steps = np.arange(window) - window // 2
    dy, dx = (grid.reshape(-1) for grid in np.meshgrid(steps, steps, indexing='ij'))
    layout = (dy * width + dx, dx, dy)
    for array in layout:
        array.flags.writeable = False
    return layout


def _clipped_window_readings(image: np.ndarray, height: int, width: int, pixels: np.ndarray,
                             window: int) -> np.ndarray:
    """`window_readings` of (M, 2) pixels whose squares cross the flat (height, width) image."""
    _, dx, dy = _window_layout(window, width)
    xs = np.floor(pixels[:, :1] + 0.5) + dx  # (M, window**2)
    ys = np.floor(pixels[:, 1:] + 0.5) + dy
    inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    index = np.where(inside, ys * width + xs, 0.0).astype(np.intp)
    return np.where(inside, np.take(image, index), 0)


def median_of_valid(values: np.ndarray, valid: np.ndarray, min_count: int) -> np.ndarray:
    """Median along the last axis of the `valid` entries; NaN where fewer than `min_count`."""
    if values.shape != valid.shape:
        values, valid = np.broadcast_arrays(values, valid)
    length = values.shape[-1]
    ordered = np.where(valid, values, _sorts_last(values.dtype)).reshape(-1, length)
    ordered.sort(axis=1)
    count = valid.reshape(-1, length).sum(axis=1)
    # The middle entries of each row, as indexes into the flat array (a row without valid
    # entries reads any entry and is set to NaN below).
    starts = np.arange(0, ordered.size, length)
    ordered = ordered.reshape(-1)
    low = ordered[starts + (count - 1) // 2].astype(np.float64)
    median = 0.5 * (low + ordered[starts + count // 2])
    median[count < max(min_count, 1)] = np.nan
    return median.reshape(values.shape[:-1])


def _window_medians(readings: np.ndarray, in_range: np.ndarray, min_count: int) -> np.ndarray:
    """
    Return `median_of_valid` of window readings whose in-range ones are all >= 0.

    Whole-number readings out of range become 0, which sorts before every in-range one: after
    one sort each row's in-range readings are its last `count` (a product is cheaper than a
    fill, and the count a product with ones is cheaper than a sum of booleans).
    """
    if readings.dtype.kind not in 'iu':
        return median_of_valid(readings, in_range, min_count)
    length = readings.shape[-1]
    ordered = (readings * in_range).reshape(-1, length)
    ordered.sort(axis=1)
    count = (in_range.reshape(-1, length) @ _ones(length)).astype(np.intp)
    first = np.arange(length, ordered.size + 1, length) - count  # of each row's in-range run
    ordered = ordered.reshape(-1)
    low = ordered[first + (count - 1) // 2].astype(np.float64)
    # A row without in-range readings reads past its end (clipped at the last row); it is NaN.
    median = 0.5 * (low + np.take(ordered, first + count // 2, mode='clip'))
    median[count < max(min_count, 1)] = np.nan
    return median.reshape(readings.shape[:-1])


@functools.lru_cache(maxsize=8)
def _ones(length: int) -> np.ndarray:
    ones = np.ones(length)
    ones.flags.writeable = False
    return ones


@functools.lru_cache(maxsize=8)
def _sorts_last(dtype: np.dtype):
    """Return the fill for invalid entries: the type's largest integer, or inf for floats."""
    return np.iinfo(dtype).max if np.issubdtype(dtype, np.integer) else np.inf


def body_points(pixels: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """
    More places on each person's body to read depth at: (N, P, 2) pixels and (N, P) valid.

    The midpoint of every limb (`parts.SKELETON`) whose two ends are valid and the torso's centre
    (mean of the valid shoulders and hips). Keypoints sit at joints, often on the silhouette's
    edge; these lie inside the body more often.
    """
    limbs = pixels[:, _LIMB_FIRST]
    limbs += pixels[:, _LIMB_SECOND]
    limbs *= 0.5
    limbs_valid = valid[:, _LIMB_FIRST] & valid[:, _LIMB_SECOND]
    torso_valid = valid[:, _TORSO_INDEX]
    count = torso_valid.sum(axis=1, keepdims=True)
    centre = np.where(torso_valid[..., None], pixels[:, _TORSO_INDEX], 0.0).sum(
        axis=1) / np.maximum(count, 1)
    points = np.concatenate([limbs, centre[:, None]], axis=1)
    points_valid = np.concatenate([limbs_valid, count > 0], axis=1)
    return points, points_valid


def person_depths(depths: np.ndarray, weights: np.ndarray, max_deviation: float,
                  min_support: float = 2.0) -> np.ndarray:
    """
    (N,) the depth of each person from depth readings (N, M) on them, NaN if none.

    Each reading is a candidate; its support is the total weight of the readings within
    `max_deviation` of it. The nearest candidate with at least `SUPPORT_FRACTION` of the best
    support (and at least `min_support`, unless none has) wins: a reading at a person that is
    not the person mostly lies behind them (the background a window straddling the silhouette
    sees), while an occluder in front needs a good part of the readings to win. The result is
    the median of the readings supporting the winner.
    """
    have = np.isfinite(depths)
    close = np.abs(depths[:, :, None] - depths[:, None, :]) <= max_deviation  # NaN compares False
    support = np.where(have, close @ weights, 0.0)  # sums of whole weights: exact in any order
    best_support = support.max(axis=1, keepdims=True)
    needed = np.maximum(SUPPORT_FRACTION * best_support, np.minimum(min_support, best_support))
    eligible = have & (support >= needed - 1e-9)
    best = np.argmin(np.where(eligible, depths, np.inf), axis=1)
    best_depth = depths[np.arange(depths.shape[0]), best]
    members = have & (np.abs(depths - best_depth[:, None]) <= max_deviation)
    return median_of_valid(depths, members, 1)


def keypoint_depths(depth_image: np.ndarray, encoding: str, pixels, keypoint_valid,
                    image_size: tuple[int, int], config: DepthConfig = DepthConfig()
                    ) -> np.ndarray:
    """
    (N, 17) depth in metres of each keypoint, NaN where there is none (or it was rejected).

    pixels (N, 17, 2): keypoints in colour-image pixels; keypoint_valid (N, 17): which to measure
    (e.g. score above the threshold). image_size: the colour image's (width, height); the depth
    image may have another resolution with the same field of view.
    """
    return _keypoint_and_person_depths(depth_image, encoding, pixels, keypoint_valid, image_size,
                                       config)[0]


def _keypoint_and_person_depths(depth_image, encoding, pixels, keypoint_valid, image_size,
                                config) -> tuple[np.ndarray, np.ndarray]:
    """`keypoint_depths` and each person's reference depth (N,)."""
    _checked(config)
    depth_image = np.asarray(depth_image)
    if depth_image.ndim != 2:
        raise ValueError(f'expected a single-channel depth image, got shape {depth_image.shape}')
    pixels = np.asarray(pixels, dtype=np.float64)
    if pixels.ndim != 3 or pixels.shape[2] != 2:
        raise ValueError(f'keypoint pixels must be (people, keypoints, 2), got {pixels.shape}')
    keypoint_valid = np.asarray(keypoint_valid, dtype=bool)
    if keypoint_valid.shape != pixels.shape[:2]:
        raise ValueError(f'keypoint_valid must be (people, keypoints) = {pixels.shape[:2]}, got '
                         f'{keypoint_valid.shape}')
    valid = keypoint_valid & all_finite(pixels)
    if pixels.shape[0] == 0:
        return np.full(pixels.shape[:2], np.nan), np.full(0, np.nan)
    depth_height, depth_width = depth_image.shape
    if (depth_width, depth_height) != tuple(image_size):
        pixels = map_pixels(pixels, image_size, (depth_width, depth_height))
    extra, extra_valid = body_points(pixels, valid)
    everywhere = np.concatenate([pixels, extra], axis=1)
    everywhere_valid = np.concatenate([valid, extra_valid], axis=1)
    # Medians are taken in the image's own units (millimetre integers sort fastest); only the
    # results are turned into metres.
    readings = window_readings(depth_image, everywhere, config.window)
    unit = _metres_per_unit(encoding)
    in_range = _in_range(readings, config.depth_min / unit, config.depth_max / unit)
    depths = np.where(everywhere_valid,
                      _window_medians(readings, in_range, config.min_support) * unit, np.nan)
    reference = person_depths(depths, _READING_WEIGHTS, config.max_deviation)
    keypoints = pixels.shape[1]
    depths = depths[:, :keypoints]
    stray = np.abs(depths - reference[:, None]) > config.max_deviation
    if stray.any():
        rows, parts = np.nonzero(stray)
        window = readings[rows, parts].astype(np.float64) * unit
        deviation = np.abs(window - reference[rows, None])
        near = in_range[rows, parts] & (deviation <= config.max_deviation)
        depths[rows, parts] = median_of_valid(window, near, config.min_support)
    return depths, reference


def _in_range(readings: np.ndarray, low: float, high: float) -> np.ndarray:
    """
    Return which readings lie in [low, high] and are not 0.

    0 is no reading in every encoding (and what `window_readings` gives off the image), even
    with a depth_min of 0.
    """
    if readings.dtype.kind in 'iu' and readings.dtype.itemsize <= 4 and math.isfinite(high):
        # Whole numbers against whole bounds: the same answer without converting to float.
        return (readings >= max(math.ceil(low), 1)) & (readings <= math.floor(high))
    return (readings >= low) & (readings <= high) & (readings != 0)


@functools.lru_cache(maxsize=16)
def _checked(config: DepthConfig) -> DepthConfig:
    """Return `config.check()`, run once per distinct configuration rather than every frame."""
    return config.check()


def _metres_per_unit(encoding: str) -> float:
    if encoding in ('16UC1', 'mono16'):
        return 1e-3
    if encoding == '32FC1':
        return 1.0
    raise ValueError(f'depth encoding {encoding!r} is not supported: use 16UC1 (mm) or 32FC1 (m)')


def people_in_3d(depth_image: np.ndarray, encoding: str, pixels, keypoint_valid,
                 camera: CameraModel, rectified: bool = False,
                 config: DepthConfig = DepthConfig(),
                 image_size: tuple[int, int] | None = None) -> People3D:
    """
    Keypoints (N, 17, 2 colour pixels) and people placed in 3D with a registered depth image.

    camera describes the colour image the keypoints are in (scaled to `image_size`, the colour
    image's (width, height), when that differs from the camera's); `rectified` says the colour
    image is rectified (P applies) rather than raw (K and D apply).
    """
    pixels = np.asarray(pixels, dtype=np.float64).reshape(-1, *np.shape(pixels)[-2:])
    if image_size is None:
        image_size = (camera.width, camera.height)
    elif tuple(image_size) != (camera.width, camera.height):
        camera = camera.scaled(*image_size)
    depths, reference = _keypoint_and_person_depths(depth_image, encoding, pixels,
                                                    keypoint_valid, image_size, config)
    points = camera.deproject(pixels, depths, rectified)
    has_keypoint = all_finite(points)
    positions = torso_centres(points[:, _TORSO_INDEX], reference, 0.5 * config.max_deviation)
    return People3D(keypoints=points, has_keypoint=has_keypoint, positions=positions,
                    has_position=all_finite(positions))


def torso_centres(torso: np.ndarray, reference: np.ndarray, tolerance: float) -> np.ndarray:
    """
    Return the (N, 3) median of each person's torso points (N, T, 3) near its reference depth.

    Only the points within `tolerance` (depth) of the torso point nearest each person's
    reference depth (N,) count; NaN rows where none has depth.

    A torso keypoint hidden behind someone else reads the occluder's depth: it is left out
    rather than averaged in.
    """
    depth = torso[..., 2]
    have = all_finite(torso)
    reference = np.where(np.isnan(reference), 0.0, reference)  # as np.nan_to_num, cheaper
    if np.isinf(reference).any():
        reference = np.nan_to_num(reference)
    gap = np.where(have, np.abs(depth - reference[:, None]), np.inf)
    rows = np.arange(torso.shape[0])
    anchor = depth[rows, np.argmin(gap, axis=1)]
    members = have & (np.abs(depth - anchor[:, None]) <= tolerance)
    # `median_of_valid` of each coordinate over the members: one sort, and the same middle
    # entries for x, y and z.
    ordered = np.where(members[..., None], torso, np.inf)
    ordered.sort(axis=1)
    count = members.sum(axis=1)
    low = ordered[rows, (count - 1) // 2]  # a row without members reads its last; NaN below
    centres = 0.5 * (low + ordered[rows, count // 2])
    centres[count < 1] = np.nan
    return centres
