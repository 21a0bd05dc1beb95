"""Image -> network input, exactly as tfjs-models posenet 2.x `padAndResizeTo` + MobileNet.

The image is zero-padded symmetrically to the model's aspect ratio, resized bilinearly (TF1
semantics: no half-pixel centres, no corner alignment, which is what tfjs `resizeBilinear`
does by default) and mapped from [0, 255] to [-1, 1]. The padding is computed in Python with
JavaScript's float64 arithmetic and `Math.round`, so it is bit-identical to the original.

The same three steps exist in two forms: `pad_resize_normalize`, one graph for the TensorFlow
backends, and `pad_and_resize` + `normalize` for TFLite, where padding and resizing run in
NumPy and the normalization is the first op of the TFLite graph. The NumPy resize repeats
TensorFlow's CPU kernel operation for operation in float32 (same sample positions, same
interpolation order), so its output equals `tf.raw_ops.ResizeBilinear`'s bit for bit (tested);
it needs no TensorFlow, which a process running a cached TFLite model never loads. TFLite's own
bilinear kernel inside the graph was measured 2.5x slower than TensorFlow's op.
"""
from __future__ import annotations

import functools

import numpy as np

from .decode_common import js_round
from .types import Padding


def compute_padding(image_height: int, image_width: int,
                    input_height: int, input_width: int) -> Padding:
    """Padding that gives the image the input's aspect ratio (tfjs `padAndResizeTo`)."""
    target_aspect = input_width / input_height
    aspect = image_width / image_height
    if aspect < target_aspect:
        side = js_round(0.5 * (target_aspect * image_height - image_width))
        return Padding(top=0, bottom=0, left=side, right=side)
    side = js_round(0.5 * ((1.0 / target_aspect) * image_width - image_height))
    return Padding(top=side, bottom=side, left=0, right=0)


def padding_vector(padding: Padding) -> np.ndarray:
    """Padding as the int32 [top, bottom, left, right] tensor the graph takes."""
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
    """uint8 [H, W, 3] image -> float32 [1, size[0], size[1], 3] network input in [-1, 1].

    `padding` is int32 [top, bottom, left, right], `size` int32 [height, width]; all three are
    TensorFlow tensors so one traced graph serves every image and input size.
    """
    import tensorflow as tf
    paddings = tf.stack([padding[0:2], padding[2:4], tf.zeros([2], tf.int32)])
    padded = tf.pad(image, paddings)[tf.newaxis]
    return normalize(resize_bilinear(padded, size))


def pad_and_resize(image: np.ndarray, padding: Padding, input_height: int,
                   input_width: int) -> np.ndarray:
    """uint8 [H, W, 3] image -> float32 [1, input_height, input_width, 3], values still 0-255.

    `pad_resize_normalize` without the last step, in NumPy: the zero padding is not copied but
    read as zeros where a sample falls outside the image. Rows are interpolated first, then
    columns between them, as TensorFlow's kernel does: the result equals
    `resize_bilinear(np.pad(image, ...))` exactly.
    """
    height, width, channels = image.shape
    plan = _resize_plan(height, width, channels, padding.top, padding.bottom, padding.left,
                        padding.right, input_height, input_width)
    flat = image.reshape(height, width * channels)
    samples = flat.take(plan.rows, axis=0).take(plan.columns, axis=1)  # uint8, both corners
    if plan.rows_in_padding is not None:
        samples[plan.rows_in_padding] = 0
    if plan.columns_in_padding is not None:
        samples[:, plan.columns_in_padding] = 0
    samples = samples.astype(np.float32)
    row_width = input_width * channels
    left, right = samples[:, :row_width], samples[:, row_width:]
    right -= left  # left + (right - left) * x_lerp, in place
    right *= plan.x_lerp
    right += left
    top, bottom = right[:input_height], right[input_height:]
    bottom -= top  # top + (bottom - top) * y_lerp
    bottom *= plan.y_lerp
    bottom += top
    return bottom.reshape(1, input_height, input_width, channels)


class _ResizePlan:
    """Where `pad_and_resize` samples the image for one (image size, padding, input size)."""

    def __init__(self, rows, rows_in_padding, columns, columns_in_padding, x_lerp, y_lerp):
        self.rows = rows                              # image rows of the top, then bottom samples
        self.rows_in_padding = rows_in_padding        # which of them are padding (None: none)
        self.columns = columns                        # flat (column, channel) indices: left, right
        self.columns_in_padding = columns_in_padding  # which of them are padding (None: none)
        self.x_lerp = x_lerp                          # float32 [out_width * channels]
        self.y_lerp = y_lerp                          # float32 [out_height, 1]


def _axis_samples(size: int, pad_before: int, pad_after: int, out_size: int):
    """TensorFlow's sample positions along one axis of the padded image (align_corners=False,
    half_pixel_centers=False): the lower and upper source index, in image coordinates (negative
    or past the end inside the padding), and the float32 interpolation weight."""
    padded = size + pad_before + pad_after
    scale = np.float32(padded / out_size)  # the kernel's float scale
    position = np.arange(out_size, dtype=np.float32) * scale
    lower_f = np.floor(position)
    lower = lower_f.astype(np.intp)
    upper = np.minimum(np.ceil(position).astype(np.intp), padded - 1)
    return lower - pad_before, upper - pad_before, (position - lower_f).astype(np.float32)


@functools.lru_cache(maxsize=32)  # frames of a camera share one plan
def _resize_plan(height, width, channels, top, bottom, left, right, out_height, out_width):
    row_low, row_high, y_lerp = _axis_samples(height, top, bottom, out_height)
    col_low, col_high, x_lerp = _axis_samples(width, left, right, out_width)
    rows = np.concatenate([row_low, row_high])
    columns = np.concatenate([col_low, col_high])
    row_outside = (rows < 0) | (rows >= height)
    column_outside = np.repeat((columns < 0) | (columns >= width), channels)
    flat_columns = (np.clip(columns, 0, width - 1)[:, np.newaxis] * channels
                    + np.arange(channels)).ravel()
    return _ResizePlan(
        rows=np.clip(rows, 0, height - 1),
        rows_in_padding=row_outside if row_outside.any() else None,
        columns=flat_columns,
        columns_in_padding=column_outside if column_outside.any() else None,
        x_lerp=np.repeat(x_lerp, channels), y_lerp=y_lerp[:, np.newaxis])
