"""Per-frame estimation settings and their validation (shared by the CLI and the node)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import functools
import math
import numbers

from .parts import NUM_KEYPOINTS


class FrameBudgetError(ValueError):
    """
    A frame whose preprocessing would take more than preprocess.MAX_FRAME_BYTES; says how much.

    (Defined here, where TensorFlow is not imported, so the node can catch it cheaply.)
    """


DECODINGS = ('single', 'multi')
# float32: the original's results; int8: a quantized TFLite network (engine/quantize.py).
PRECISIONS = ('float32', 'int8')


def check_precision(precision: str) -> str:
    """Return `precision` if it is one of PRECISIONS, else raise ValueError saying so."""
    if precision not in PRECISIONS:
        raise ValueError(f'precision must be one of {PRECISIONS}, got {precision!r}')
    return precision


OUTPUT_STRIDES = (8, 16, 32)
MAX_INPUT_SIDE = 4097
# Where the network runs ('auto': the GPU when TensorFlow sees one); `network.resolve_device`.
DEVICES = ('auto', 'cpu', 'gpu')
# The least input side (after snapping) accepted. Measured with mobilenet_quant2_075 on the 7
# COCO val2017 photos of ../shared/data/coco_kpts with one annotated person (square inputs
# k * stride + 1, multi-pose decoding, PoseNet's defaults; found = a pose with 5 keypoints of
# score >= 0.5 on the annotated person): where the person fills most of the frame
# (000000547336.jpg) PoseNet finds them from 49 px at stride 16 and 57 px at stride 8, and no
# smaller input found anyone in any of the photos (smaller people need 81-177 px). At 57 px and
# more the person is found with every input shape up to MAX_INPUT_ASPECT_RATIO, at both
# strides, so a 4:3 frame is never left too few pixels.
MIN_INPUT_SIDE = 57
# The longest input side at most this many times the shortest: a wider input spends most of
# its pixels (and memory, see preprocess.MAX_FRAME_BYTES) on padding for any usual camera.
# match_aspect_ratio takes the image's own shape instead, so it is not bound by this.
MAX_INPUT_ASPECT_RATIO = 4.0


def max_output_stride(multiplier: float) -> int:
    """
    Largest output stride the MobileNetV1 backbone reaches for this width multiplier.

    0.50 and 0.75 stop downsampling at 16; 1.00 and 1.01 reach 32.
    """
    return 32 if multiplier >= 1.0 else 16


def is_valid_input_size(size: int, output_stride: int) -> bool:
    return size >= 1 and (size - 1) % output_stride == 0


def to_valid_input_size(size: int, output_stride: int) -> int:
    """Snap a requested input side to k * stride + 1, as tfjs `toValidInputResolution` does."""
    if is_valid_input_size(size, output_stride):
        return size
    return max(1, math.floor(size / output_stride)) * output_stride + 1


def _valid_at_least(size: float, output_stride: int) -> int:
    """Return the smallest valid input side (k * stride + 1, k >= 1) not below `size`."""
    return max(1, math.ceil((size - 1) / output_stride - 1e-9)) * output_stride + 1


def _valid_at_most(size: int, output_stride: int) -> int:
    """Return the largest valid input side not above `size` (below stride + 1 if none is)."""
    return (size - 1) // output_stride * output_stride + 1


def smallest_input_side(output_stride: int) -> int:
    """Return the smallest valid input side of at least MIN_INPUT_SIDE pixels at this stride."""
    return _valid_at_least(MIN_INPUT_SIDE, output_stride)


# EstimateConfig fields beyond the original PoseNet; their defaults give the original's results.
BEYOND_ORIGINAL_FIELDS = ('match_aspect_ratio', 'flip_test', 'refine_keypoints',
                          'pose_score_keypoints')


@functools.lru_cache(maxsize=64)  # called per frame with the same camera size
def input_size_for_image(image_height: int, image_width: int, output_stride: int, *,
                         pixel_budget: int | None = None,
                         long_side: int | None = None) -> tuple[int, int]:
    """
    Return the valid (input_height, input_width) that suits an image of this size best.

    PoseNet pads the image to the input's aspect ratio, so an input of the wrong shape spends its
    pixels on padding. With `pixel_budget`: among the valid sizes of at most that many pixels,
    the one that puts the most input pixels on the image (ties: the fewer pixels in all). With
    `long_side`: the image's long side gets that many pixels (snapped like any input side) and
    the short side the smallest valid size that holds the image without cropping it.
    """
    if image_height < 1 or image_width < 1:
        raise ValueError(f'image size must be positive, got {image_height}x{image_width}')
    if output_stride not in OUTPUT_STRIDES:
        raise ValueError(f'output_stride must be one of {OUTPUT_STRIDES}, got {output_stride}')
    if (pixel_budget is None) == (long_side is None):
        raise ValueError('give exactly one of pixel_budget and long_side')
    smallest = smallest_input_side(output_stride)
    largest = _valid_at_most(MAX_INPUT_SIDE, output_stride)
    if long_side is not None:
        if not 1 <= long_side <= MAX_INPUT_SIDE:
            raise ValueError(f'long_side must be between 1 and {MAX_INPUT_SIDE}, got {long_side}')
        long = max(smallest, to_valid_input_size(long_side, output_stride))
        short = min(long, max(smallest, _valid_at_least(
            long * min(image_height, image_width) / max(image_height, image_width),
            output_stride)))
        return (long, short) if image_height >= image_width else (short, long)
    if pixel_budget < smallest * smallest:
        raise ValueError(f'pixel_budget {pixel_budget} is below the smallest input at stride '
                         f'{output_stride} ({smallest}x{smallest} = {smallest * smallest} pixels; '
                         f'MIN_INPUT_SIDE = {MIN_INPUT_SIDE})')
    best_key, best = None, None
    for height in range(smallest, min(largest, pixel_budget // smallest) + 1, output_stride):
        widest = _valid_at_most(min(pixel_budget // height, MAX_INPUT_SIDE), output_stride)
        if widest < smallest:
            break
        # Width beyond the image's aspect ratio only adds padding.
        width = min(widest, max(smallest, _valid_at_least(height * image_width / image_height,
                                                          output_stride)))
        scale = min(height / image_height, width / image_width)
        key = (scale * scale * image_height * image_width, -height * width)
        if best_key is None or key > best_key:
            best_key, best = key, (height, width)
    return best


@dataclass(frozen=True)
class EstimateConfig:
    """
    How to run and decode one frame. Every field can change between frames.

    The fields after `flip_horizontal` go beyond the original PoseNet (docs/accuracy.md measures
    each); their defaults give exactly the original's results.
    """

    output_stride: int = 16
    input_height: int = 257
    input_width: int = 257
    decoding: str = 'multi'
    max_pose_detections: int = 5
    score_threshold: float = 0.5
    nms_radius: float = 20.0
    flip_horizontal: bool = False
    # Per image, use the valid input size of the image's aspect ratio with at most
    # input_height x input_width pixels (`input_size_for_image`), so none go to padding.
    match_aspect_ratio: bool = False
    # Also run the mirrored input and average both outputs before decoding (`flip_test`).
    flip_test: bool = False
    # Move each keypoint to the vote of the 3x3 cells around it (`refine`).
    refine_keypoints: bool = False
    # Pose score: mean of this many best keypoint scores (`rescoring`); 17 is the original's.
    pose_score_keypoints: int = NUM_KEYPOINTS

    def check(self, multiplier: float | None = None) -> None:
        """
        Raise ValueError with the reason if any field, or their combination, cannot work.

        Beyond each field's range: the snapped input must have at least MIN_INPUT_SIDE pixels
        on a side and an aspect ratio within MAX_INPUT_ASPECT_RATIO; with match_aspect_ratio
        (where only the pixel budget input_height x input_width counts) the budget must hold
        the smallest such input.
        """
        if self.output_stride not in OUTPUT_STRIDES:
            raise ValueError(
                f'output_stride must be one of {OUTPUT_STRIDES}, got {self.output_stride}')
        if multiplier is not None and self.output_stride > max_output_stride(multiplier):
            raise ValueError(
                f'output_stride {self.output_stride} needs multiplier 1.00 or 1.01; MobileNetV1 '
                f'{multiplier:.2f} reaches at most {max_output_stride(multiplier)}')
        for name in ('input_height', 'input_width'):
            value = getattr(self, name)
            if not 1 <= value <= MAX_INPUT_SIDE:
                raise ValueError(
                    f'{name} must be between 1 and {MAX_INPUT_SIDE} pixels, got {value}')
        if self.decoding not in DECODINGS:
            raise ValueError(f"decoding must be 'single' or 'multi', got {self.decoding!r}")
        if self.max_pose_detections < 1:
            raise ValueError(
                f'max_pose_detections must be at least 1, got {self.max_pose_detections}')
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(
                f'score_threshold must be between 0 and 1, got {self.score_threshold}')
        if not (self.nms_radius > 0.0 and math.isfinite(self.nms_radius)):
            raise ValueError(
                f'nms_radius must be a positive number of pixels, got {self.nms_radius}')
        for name in ('match_aspect_ratio', 'flip_test', 'refine_keypoints'):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f'{name} must be true or false, got {getattr(self, name)!r}')
        # A count slices the sorted scores: a whole-number float would fail on every frame.
        if (isinstance(self.pose_score_keypoints, bool)
                or not isinstance(self.pose_score_keypoints, numbers.Integral)
                or not 1 <= self.pose_score_keypoints <= NUM_KEYPOINTS):
            raise ValueError(f'pose_score_keypoints must be an integer from 1 to {NUM_KEYPOINTS}, '
                             f'got {self.pose_score_keypoints!r}')
        self._check_input_shape()

    def _check_input_shape(self) -> None:
        stride = self.output_stride
        height = to_valid_input_size(self.input_height, stride)
        width = to_valid_input_size(self.input_width, stride)
        smallest = smallest_input_side(stride)
        given = f'input {self.input_height}x{self.input_width} (height x width'
        if (height, width) != (self.input_height, self.input_width):
            given += f', snapped to {height}x{width} at stride {stride}'
        given += ')'
        if self.match_aspect_ratio:
            if height * width < smallest * smallest:
                raise ValueError(
                    f'{given} is too small a pixel budget for match_aspect_ratio: it needs at '
                    f'least {smallest}x{smallest} = {smallest * smallest} pixels at stride '
                    f'{stride}, the least input in which PoseNet finds a person '
                    f'(MIN_INPUT_SIDE = {MIN_INPUT_SIDE})')
            return
        if min(height, width) < MIN_INPUT_SIDE:
            raise ValueError(
                f'{given} is too small: PoseNet finds nobody in an input with fewer than '
                f'MIN_INPUT_SIDE = {MIN_INPUT_SIDE} pixels on a side; the least at stride '
                f'{stride} is {smallest}')
        aspect = max(height, width) / min(height, width)
        if aspect > MAX_INPUT_ASPECT_RATIO:
            raise ValueError(
                f'{given} has an aspect ratio of {aspect:.1f}, beyond MAX_INPUT_ASPECT_RATIO = '
                f'{MAX_INPUT_ASPECT_RATIO:g}: a camera frame would become a sliver among padding '
                "(use a shape closer to the camera's, or match_aspect_ratio)")

    def snapped(self) -> 'EstimateConfig':
        """Return the same settings with the input size snapped to what the network accepts."""
        return dataclasses.replace(
            self,
            input_height=to_valid_input_size(self.input_height, self.output_stride),
            input_width=to_valid_input_size(self.input_width, self.output_stride))

    def for_image(self, image_height: int, image_width: int) -> 'EstimateConfig':
        """
        Return the snapped settings used for an image of this size.

        Its own input size with `match_aspect_ratio`, the snapped configured one otherwise.
        """
        config = self.snapped()
        if not config.match_aspect_ratio:
            return config
        height, width = input_size_for_image(
            image_height, image_width, config.output_stride,
            pixel_budget=config.input_height * config.input_width)
        return dataclasses.replace(config, input_height=height, input_width=width)
