"""
Image -> network input, exactly as tfjs-models posenet 2.x `padAndResizeTo` + MobileNet.

The image is zero-padded symmetrically to the model's aspect ratio, resized bilinearly (TF1
semantics: no half-pixel centres, no corner alignment, which is what tfjs `resizeBilinear`
does by default) and mapped from [0, 255] to [-1, 1]. The padding is computed in Python with
JavaScript's float64 arithmetic and `Math.round`, so it is bit-identical to the original.

The same three steps exist in two forms: `pad_resize_normalize`, one graph for the TensorFlow
backends, and `pad_and_resize` + `normalize` for TFLite, where padding and resizing run in
NumPy and the normalization is the first op of the TFLite graph. The int8 network, which
takes whole grey levels (uint8), takes `pad_and_resize_rounded`: the same samples by OpenCV,
already rounded, in half the time. The NumPy resize repeats
TensorFlow's CPU kernel operation for operation in float32 (same sample positions, same
interpolation order), so its output equals `tf.raw_ops.ResizeBilinear`'s bit for bit (tested);
it needs no TensorFlow, which a process running a cached TFLite model never loads. TFLite's own
bilinear kernel inside the graph was measured 2.5x slower than TensorFlow's op.
"""
from __future__ import annotations

import concurrent.futures
from dataclasses import dataclass
import functools

import cv2
import numpy as np

from .config import FrameBudgetError
from .decode_common import js_round
from .types import Padding

# The most memory preprocessing may take for one frame: the image padded to the input's aspect
# ratio (uint8) plus the network input (float32; two with the flip test). A frame that needs
# more is refused by `check_frame_budget` before anything is allocated. 512 MiB holds an
# 8192x8192 image (MAX_IMAGE_SIDE) padded for an input of aspect ratio 4:3 with room to spare;
# what breaks it is an input shape far from the image's (an 8-bit 4K frame in a 1:4 input takes
# 171 MiB, a 640x480 frame in a 1x4097 input 2.6 GiB).
MAX_FRAME_BYTES = 512 * 2**20
# `pad_and_resize` splits its output rows into up to this many bands computed in parallel, none
# thinner than MIN_BAND_ROWS (thinner bands cost more in handing over than they save). Two
# threads take 640x480 into 481x353 from 2.2 to 1.5 ms here (2 cores); TensorFlow's op, 1.7 ms.
MAX_RESIZE_THREADS = 4
MIN_BAND_ROWS = 32


def compute_padding(image_height: int, image_width: int,
                    input_height: int, input_width: int) -> Padding:
    """Return the padding that gives the image the input's aspect ratio (tfjs `padAndResizeTo`)."""
    target_aspect = input_width / input_height
    aspect = image_width / image_height
    if aspect < target_aspect:
        side = js_round(0.5 * (target_aspect * image_height - image_width))
        return Padding(top=0, bottom=0, left=side, right=side)
    side = js_round(0.5 * ((1.0 / target_aspect) * image_width - image_height))
    return Padding(top=side, bottom=side, left=0, right=0)


def preprocess_bytes(image_height: int, image_width: int, input_height: int, input_width: int,
                     mirrored: bool = False) -> int:
    """Bytes of the padded image and of the network input(s) for one frame."""
    padding = compute_padding(image_height, image_width, input_height, input_width)
    padded = ((image_height + padding.top + padding.bottom)
              * (image_width + padding.left + padding.right) * 3)
    return padded + input_height * input_width * 3 * 4 * (2 if mirrored else 1)


def check_frame_budget(image_height: int, image_width: int, input_height: int,
                       input_width: int, mirrored: bool = False) -> None:
    """Refuse (FrameBudgetError) a frame whose preprocessing would exceed MAX_FRAME_BYTES."""
    needed = preprocess_bytes(image_height, image_width, input_height, input_width, mirrored)
    if needed > MAX_FRAME_BYTES:
        raise FrameBudgetError(
            f'a {image_width}x{image_height} image padded to the aspect ratio of the '
            f'{input_width}x{input_height} input (width x height) would take '
            f'{needed / 2**20:.0f} MiB, more than MAX_FRAME_BYTES = {MAX_FRAME_BYTES // 2**20} '
            "MiB: use an input shape closer to the image's, or match_aspect_ratio")


def padding_vector(padding: Padding) -> np.ndarray:
    """Return the padding as the int32 [top, bottom, left, right] tensor the graph takes."""
    return np.array([padding.top, padding.bottom, padding.left, padding.right], dtype=np.int32)


def resize_bilinear(images, size):
    """[N, H, W, C] -> float32 [N, size[0], size[1], C], tfjs `resizeBilinear` (TF1 semantics)."""
    import tensorflow as tf
    return tf.raw_ops.ResizeBilinear(
        images=images, size=size, align_corners=False, half_pixel_centers=False)


def normalize(resized):
    """Pixel values [0, 255] -> [-1, 1], as MobileNet was trained."""
    return resized / 127.5 - 1.0


def pad_resize_normalize(image, padding, size):
    """
    uint8 [H, W, 3] image -> float32 [1, size[0], size[1], 3] network input in [-1, 1].

    `padding` is int32 [top, bottom, left, right], `size` int32 [height, width]; all three are
    TensorFlow tensors so one traced graph serves every image and input size.
    """
    import tensorflow as tf
    paddings = tf.stack([padding[0:2], padding[2:4], tf.zeros([2], tf.int32)])
    padded = tf.pad(image, paddings)[tf.newaxis]
    return normalize(resize_bilinear(padded, size))


def pad_and_resize(image: np.ndarray, padding: Padding, input_height: int,
                   input_width: int, threads: int = 1) -> np.ndarray:
    """
    uint8 [H, W, 3] image -> float32 [1, input_height, input_width, 3], values still 0-255.

    `pad_resize_normalize` without the last step, in NumPy: the zero padding is not copied but
    read as zeros where a sample falls outside the image. Rows are interpolated first, then
    columns between them, as TensorFlow's kernel does: the result equals
    `resize_bilinear(np.pad(image, ...))` exactly. Output rows and columns that sample only the
    padding are zero and not computed: a 4:3 camera frame in a square input skips a quarter of
    the rows. With `threads` > 1 bands of output rows are computed in parallel (NumPy releases
    the GIL), each row exactly as in one band.
    """
    height, width, channels = image.shape
    plan = _resize_plan(height, width, channels, padding.top, padding.bottom, padding.left,
                        padding.right, input_height, input_width)
    flat = image.reshape(height, width * channels)
    out = np.empty((input_height, input_width * channels), dtype=np.float32)
    first, stop = plan.live_rows
    left, right = plan.live_columns
    out[:first] = 0
    out[stop:] = 0
    out[first:stop, :left] = 0
    out[first:stop, right:] = 0
    live = stop - first
    bands = max(1, min(threads, MAX_RESIZE_THREADS, live // MIN_BAND_ROWS))
    bounds = [first + live * band // bands for band in range(bands + 1)]
    helpers = [_resize_pool().submit(_resize_band, flat, plan, bounds[band], bounds[band + 1],
                                     out) for band in range(1, bands)]
    if live:
        _resize_band(flat, plan, bounds[0], bounds[1], out)
    for helper in helpers:
        helper.result()
    return out.reshape(1, input_height, input_width, channels)


def pad_and_resize_rounded(image: np.ndarray, padding: Padding, input_height: int,
                           input_width: int, threads: int = 1) -> np.ndarray:
    """
    `pad_and_resize` rounded to whole grey levels (uint8), by OpenCV: the int8 network's input.

    The int8 network takes whole grey levels (uint8; the converter's model rounded its float
    input first, `uint8_input`), so of the exact resize it sees only the rounded values.
    OpenCV's bilinear warp, given TF1's sample positions (source = output * scale: no
    half-pixel centres) and the image's last row and column repeated beyond it (TensorFlow
    clamps there), gives those rounded values in all but a few per million (by one level;
    tested), in half the time of `pad_and_resize`: 0.36 against 0.70 ms
    at 257, 0.63 against 1.43 ms at 353x481 (640x480 frames, 2 threads), before rows of
    padding were read as a border instead of copied. It runs on OpenCV's threads
    (`cv2.setNumThreads`, which the programs set from `num_threads`); `threads` is accepted for
    the same call as `pad_and_resize`.
    """
    del threads  # OpenCV's own pool
    height, width = image.shape[:2]
    any_padding = padding.top or padding.bottom or padding.left or padding.right
    padded_height = height + padding.top + padding.bottom
    padded_width = width + padding.left + padding.right
    # TF1's sample positions (source = output * scale) in the padded image, read from the image.
    to_source = np.array([[padded_width / input_width, 0.0, -padding.left],
                          [0.0, padded_height / input_height, -padding.top]])
    # Rows of padding (a landscape frame in a squarer input) are read as a constant border of
    # zeros instead of copied in: 0.71 -> 0.16 ms for a 1280x720 frame into 257x257, the same
    # values. Not columns: OpenCV then takes another path for every row, a few values per
    # hundred thousand a level off. Nor where an axis is upscaled without padding, as samples
    # past the image's last row or column repeat it (TensorFlow clamps there).
    repeats_edge = ((padded_height < input_height and not padding.bottom)
                    or (padded_width < input_width and not padding.right))
    if repeats_edge or padding.left or padding.right:
        if any_padding:
            image = cv2.copyMakeBorder(image, padding.top, padding.bottom, padding.left,
                                       padding.right, cv2.BORDER_CONSTANT, value=0)
            to_source[:, 2] = 0.0
        border = cv2.BORDER_REPLICATE
    else:
        border = cv2.BORDER_CONSTANT
    resized = cv2.warpAffine(image, to_source, (input_width, input_height),
                             flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=border)
    return resized.reshape(1, input_height, input_width, image.shape[2])


def _resize_band(flat: np.ndarray, plan: _ResizePlan, first: int, stop: int,
                 out: np.ndarray) -> None:
    """
    Write output rows [first, stop) of `pad_and_resize` into `out` [height, width * C].

    Only the plan's live columns: the others are zero, written by the caller.
    """
    rows = np.concatenate([plan.row_low[first:stop], plan.row_high[first:stop]])
    rows_in_padding = None
    if plan.rows_in_padding is not None:
        rows_in_padding = np.concatenate([plan.rows_in_padding[0][first:stop],
                                          plan.rows_in_padding[1][first:stop]])
        if not rows_in_padding.any():
            rows_in_padding = None
    samples = flat.take(np.clip(rows, 0, flat.shape[0] - 1), axis=0)  # top rows, then bottom
    left = _samples(samples, plan.left_columns, rows_in_padding, plan.left_in_padding)
    right = _samples(samples, plan.right_columns, rows_in_padding, plan.right_in_padding)
    right -= left  # left + (right - left) * x_lerp, in place
    right *= plan.x_lerp
    right += left
    count = stop - first
    top, bottom = right[:count], right[count:]
    bottom -= top  # top + (bottom - top) * y_lerp
    bottom *= plan.y_lerp[first:stop]
    np.add(bottom, top, out=out[first:stop, plan.live_columns[0]:plan.live_columns[1]])


@functools.lru_cache(maxsize=1)
def _resize_pool() -> concurrent.futures.ThreadPoolExecutor:
    """Return the threads computing bands of `pad_and_resize` beside the caller's."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=MAX_RESIZE_THREADS - 1,
                                                 thread_name_prefix='posenet_resize')


def _samples(rows: np.ndarray, columns: np.ndarray, rows_in_padding, columns_in_padding):
    """float32 pixels of `rows` at the flat (column, channel) indices, zero in the padding."""
    samples = rows.take(columns, axis=1)
    if rows_in_padding is not None:
        samples[rows_in_padding] = 0
    if columns_in_padding is not None:
        # Padding columns lie at the two ends of a row: zeroing two slices is a memset, where
        # a boolean mask over every row costs milliseconds (640x480 into 481x353: 3 ms).
        lead, trail = _end_runs(columns_in_padding)
        if lead + trail == int(np.count_nonzero(columns_in_padding)):
            samples[:, :lead] = 0
            if trail:
                samples[:, samples.shape[1] - trail:] = 0
        else:
            samples[:, columns_in_padding] = 0
    return samples.astype(np.float32)


def _end_runs(mask: np.ndarray) -> tuple[int, int]:
    """Return how many True values `mask` starts with and ends with."""
    false = np.flatnonzero(~mask)
    if not false.size:
        return mask.size, 0
    return int(false[0]), int(mask.size - 1 - false[-1])


@dataclass(frozen=True)
class _ResizePlan:
    """
    Where `pad_and_resize` samples the image for one (image size, padding, input size).

    Rows are image rows (outside the image inside the padding); columns are flat (column,
    channel) indices into a row; a `*_in_padding` mask says which samples fall into the zero
    padding (None: none do). Only output rows and columns with a sample inside the image are
    computed (`live_rows`, `live_columns`): the column arrays cover those columns alone.
    """

    row_low: np.ndarray            # image row of each output row's top samples
    row_high: np.ndarray           # ... and of its bottom samples
    rows_in_padding: tuple | None  # (low, high) masks of rows in the zero padding
    left_columns: np.ndarray
    left_in_padding: np.ndarray | None
    right_columns: np.ndarray
    right_in_padding: np.ndarray | None
    x_lerp: np.ndarray             # float32 [live columns * channels]
    y_lerp: np.ndarray             # float32 [input_height, 1]
    live_rows: tuple[int, int]     # [first, stop) output rows computed; the rest are zero
    live_columns: tuple[int, int]  # [first, stop) flat output columns computed


def _axis_samples(size: int, pad_before: int, pad_after: int, out_size: int):
    """
    Return TensorFlow's sample positions along one axis of the padded image.

    As align_corners=False, half_pixel_centers=False: the lower and upper source index, in
    image coordinates (negative or past the end inside the padding), and the float32
    interpolation weight.
    """
    padded = size + pad_before + pad_after
    scale = np.float32(padded / out_size)  # the kernel's float scale
    position = np.arange(out_size, dtype=np.float32) * scale
    lower_f = np.floor(position)
    lower = lower_f.astype(np.intp)
    upper = np.minimum(np.ceil(position).astype(np.intp), padded - 1)
    return lower - pad_before, upper - pad_before, (position - lower_f).astype(np.float32)


def _outside_mask(indices: np.ndarray, size: int, repeat: int = 1) -> np.ndarray:
    return np.repeat((indices < 0) | (indices >= size), repeat)


def _outside(indices: np.ndarray, size: int, repeat: int = 1) -> np.ndarray | None:
    mask = _outside_mask(indices, size, repeat)
    return mask if mask.any() else None


def _flat_columns(columns: np.ndarray, width: int, channels: int) -> np.ndarray:
    return (np.clip(columns, 0, width - 1)[:, np.newaxis] * channels
            + np.arange(channels)).ravel()


def _live_range(low: np.ndarray, high: np.ndarray, size: int) -> tuple[int, int]:
    """
    Return [first, stop) of the output positions with a sample inside the image.

    Positions grow along an axis, so the ones whose two samples both fall into the padding
    are a run at each end (output zero there); with no sample inside, the range is empty.
    """
    live = np.flatnonzero(~(_outside_mask(low, size) & _outside_mask(high, size)))
    return (int(live[0]), int(live[-1]) + 1) if live.size else (0, 0)


@functools.lru_cache(maxsize=32)  # frames of a camera share one plan
def _resize_plan(height, width, channels, top, bottom, left, right, out_height, out_width):
    row_low, row_high, y_lerp = _axis_samples(height, top, bottom, out_height)
    col_low, col_high, x_lerp = _axis_samples(width, left, right, out_width)
    first_column, stop_column = _live_range(col_low, col_high, width)
    col_low, col_high = col_low[first_column:stop_column], col_high[first_column:stop_column]
    low_outside, high_outside = _outside(row_low, height), _outside(row_high, height)
    return _ResizePlan(
        row_low=row_low, row_high=row_high,
        rows_in_padding=(None if low_outside is None and high_outside is None else
                         (_outside_mask(row_low, height), _outside_mask(row_high, height))),
        left_columns=_flat_columns(col_low, width, channels),
        left_in_padding=_outside(col_low, width, channels),
        right_columns=_flat_columns(col_high, width, channels),
        right_in_padding=_outside(col_high, width, channels),
        x_lerp=np.repeat(x_lerp[first_column:stop_column], channels),
        y_lerp=y_lerp[:, np.newaxis],
        live_rows=_live_range(row_low, row_high, height),
        live_columns=(first_column * channels, stop_column * channels))
