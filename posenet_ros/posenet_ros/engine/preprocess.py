"""Image -> network input, exactly as tfjs-models posenet 2.x `padAndResizeTo` + MobileNet.

The image is zero-padded symmetrically to the model's aspect ratio, resized bilinearly (TF1
semantics: no half-pixel centres, no corner alignment, which is what tfjs `resizeBilinear`
does by default) and mapped from [0, 255] to [-1, 1]. The padding is computed in Python with
JavaScript's float64 arithmetic and `Math.round`, so it is bit-identical to the original.

The same three steps exist in two forms: `pad_resize_normalize`, one graph for the TensorFlow
backends, and `pad_and_resize` + `normalize` for TFLite, where the padding is a NumPy copy, the
resize one eager TensorFlow op (TFLite's own bilinear kernel is several times slower) and the
normalization the first op of the TFLite graph: no tf.function call per frame (about 0.7 ms of
Python dispatch on its own).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

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
            'MiB: use an input shape closer to the image\'s, or match_aspect_ratio')


def padding_vector(padding: Padding) -> np.ndarray:
    """Padding as the int32 [top, bottom, left, right] tensor the graph takes."""
    return np.array([padding.top, padding.bottom, padding.left, padding.right], dtype=np.int32)


def resize_bilinear(images, size) -> tf.Tensor:
    """[N, H, W, C] -> float32 [N, size[0], size[1], C], tfjs `resizeBilinear` (TF1 semantics)."""
    return tf.raw_ops.ResizeBilinear(
        images=images, size=size, align_corners=False, half_pixel_centers=False)


def normalize(resized: tf.Tensor) -> tf.Tensor:
    """Pixel values [0, 255] -> [-1, 1], as MobileNet was trained."""
    return resized / 127.5 - 1.0


def pad_resize_normalize(image: tf.Tensor, padding: tf.Tensor, size: tf.Tensor) -> tf.Tensor:
    """uint8 [H, W, 3] image -> float32 [1, size[0], size[1], 3] network input in [-1, 1].

    `padding` is int32 [top, bottom, left, right], `size` int32 [height, width]; both are
    tensors so one traced graph serves every image and input size.
    """
    paddings = tf.stack([padding[0:2], padding[2:4], tf.zeros([2], tf.int32)])
    padded = tf.pad(image, paddings)[tf.newaxis]
    return normalize(resize_bilinear(padded, size))


def pad_and_resize(image: np.ndarray, padding: Padding, input_height: int,
                   input_width: int) -> np.ndarray:
    """uint8 [H, W, 3] image -> float32 [1, input_height, input_width, 3], values still 0-255.

    `pad_resize_normalize` without the last step, eagerly: one NumPy copy and one TF op.
    """
    padded = np.pad(image, ((padding.top, padding.bottom), (padding.left, padding.right), (0, 0)))
    size = np.array([input_height, input_width], dtype=np.int32)
    return resize_bilinear(padded[np.newaxis], size).numpy()
