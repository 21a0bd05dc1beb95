"""
Preprocessing as tfjs-models posenet 2.x `padAndResizeTo`.

JS rounding, symmetric zero padding to the input's aspect ratio, TF1/tfjs bilinear resize,
[-1, 1] scaling.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image
from posenet_ros.engine.preprocess import (compute_padding, js_round, pad_and_resize,
                                           pad_and_resize_rounded, pad_resize_normalize,
                                           padding_vector, resize_bilinear)
from posenet_ros.engine.types import Padding
import pytest
import tensorflow as tf


def run(image: np.ndarray, height: int, width: int):
    padding = compute_padding(image.shape[0], image.shape[1], height, width)
    out = pad_resize_normalize(tf.constant(image), tf.constant(padding_vector(padding)),
                               tf.constant([height, width], tf.int32))
    return out.numpy()[0], padding


def tfjs_resize_bilinear(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """
    Resize as tfjs-core's CPU `resizeBilinear` (alignCorners=false, halfPixelCenters=false).

    In float64 like JavaScript: source = destination * (in / out), lower neighbour floored,
    upper clamped.
    """
    def taps(in_size, out_size):
        source = np.arange(out_size) * (in_size / out_size)
        low = np.floor(source).astype(int)
        return low, np.minimum(low + 1, in_size - 1), source - low

    y0, y1, fy = taps(image.shape[0], height)
    x0, x1, fx = taps(image.shape[1], width)
    data = image.astype(np.float64)
    top = data[y0][:, x0] + (data[y0][:, x1] - data[y0][:, x0]) * fx[None, :, None]
    bottom = data[y1][:, x0] + (data[y1][:, x1] - data[y1][:, x0]) * fx[None, :, None]
    return top + (bottom - top) * fy[:, None, None]


def test_js_round_rounds_halves_up_and_is_exact():
    assert [js_round(v) for v in (0.5, 1.5, 2.5, -0.5, -1.5, 134.49999, 135.0)] == [
        1, 2, 3, 0, -1, 134, 135]
    # floor(x + 0.5) would give 1 here; JavaScript's Math.round gives 0.
    assert js_round(0.49999999999999994) == 0


@pytest.mark.parametrize('image_hw, input_hw', [
    ((1080, 810), (257, 257)), ((426, 640), (353, 481)), ((480, 640), (257, 257)),
    ((333, 500), (513, 257)), ((257, 257), (257, 257)), ((1, 1000), (17, 33))])
def test_padding_is_symmetric_and_reaches_the_input_aspect(image_hw, input_hw):
    height, width = image_hw
    padding = compute_padding(height, width, *input_hw)
    assert padding.top == padding.bottom and padding.left == padding.right
    assert (padding.top == 0) or (padding.left == 0)
    padded_h = height + padding.top + padding.bottom
    padded_w = width + padding.left + padding.right
    target = input_hw[1] / input_hw[0]
    # Within the one pixel per side that rounding allows.
    assert abs(padded_w - target * padded_h) <= 1.0 + target
    assert (math.isclose(padding.left, js_round(0.5 * (target * height - width)))
            or padding.left == 0)


def test_pixels_match_tfjs_pad_and_resize_on_a_real_photo(data_path):
    image = np.asarray(Image.open(data_path / 'smoke' / 'bus.jpg').convert('RGB'))
    for height, width in ((257, 257), (353, 481), (513, 257)):
        out, padding = run(image, height, width)
        padded = np.pad(image, ((padding.top, padding.bottom), (padding.left, padding.right),
                                (0, 0)))
        expected = tfjs_resize_bilinear(padded, height, width) / 127.5 - 1.0
        assert out.shape == (height, width, 3) and out.dtype == np.float32
        # TF (like tfjs-wasm's XNNPACK kernel) maps coordinates in float32, tfjs-cpu in float64:
        # up to ~1e-4 source-pixel apart, i.e. a few hundredths of a grey level on sharp edges.
        np.testing.assert_allclose(out, expected, atol=3e-4)
        assert np.abs(out - expected).mean() < 1e-5


def test_padding_is_black_and_values_span_minus_one_to_one(data_path):
    # 810 x 1080, tall
    image = np.asarray(Image.open(data_path / 'smoke' / 'bus.jpg').convert('RGB'))
    out, padding = run(image, 257, 257)
    assert padding.left > 0 and padding.top == 0
    border = int(padding.left * 257 / (image.shape[1] + 2 * padding.left)) - 1
    assert np.all(out[:, :border] == -1.0) and np.all(out[:, -border:] == -1.0)
    assert out.min() >= -1.0 and out.max() <= 1.0 and out[:, border + 2:-border - 2].std() > 0.2


def test_an_image_already_at_input_size_is_only_rescaled():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(257, 353, 3), dtype=np.uint8)
    out, padding = run(image, 257, 353)
    assert padding_vector(padding).tolist() == [0, 0, 0, 0]
    np.testing.assert_array_equal(
        out, image.astype(np.float32) / np.float32(127.5) - np.float32(1.0))


@pytest.mark.parametrize('image_hw, input_hw', [
    ((1080, 810), (257, 257)), ((426, 640), (353, 481)), ((480, 640), (257, 257)),
    ((333, 500), (513, 257)), ((257, 257), (257, 257)), ((1, 1000), (17, 33)),
    ((31, 17), (641, 641)), ((720, 1280), (1025, 1025)), ((5, 3), (1, 1)),
    ((640, 200), (97, 257)), ((200, 640), (129, 65)), ((1000, 1), (33, 17)),
    ((4, 400), (257, 257))])
def test_numpy_pad_and_resize_equals_tensorflow_bit_for_bit(image_hw, input_hw):
    """
    The TFLite path's NumPy resize (no TensorFlow) gives TensorFlow's ResizeBilinear exactly.

    Down- and upscaling, padding on either side or none; rows or columns whose samples all fall
    into the padding (written as zeros, not computed), down to none left to compute.
    """
    rng = np.random.default_rng(sum(image_hw) + sum(input_hw))
    image = rng.integers(0, 256, size=(*image_hw, 3), dtype=np.uint8)
    height, width = input_hw
    padding = compute_padding(image.shape[0], image.shape[1], height, width)
    padded = np.pad(image, ((padding.top, padding.bottom), (padding.left, padding.right), (0, 0)))
    expected = resize_bilinear(padded[np.newaxis], np.array([height, width], np.int32)).numpy()
    out = pad_and_resize(image, padding, height, width)
    assert out.dtype == np.float32 and out.shape == (1, height, width, 3)
    np.testing.assert_array_equal(out, expected)
    # Bands of rows computed in parallel (the node's path) give the same bits.
    for threads in (2, 3, 4):
        np.testing.assert_array_equal(
            pad_and_resize(image, padding, height, width, threads=threads), expected,
            err_msg=f'{threads} threads')


def test_numpy_pad_and_resize_equals_tensorflow_on_real_photos(data_path):
    for path in sorted((data_path / 'smoke').glob('*.jpg')):
        image = np.asarray(Image.open(path).convert('RGB'))
        for height, width in ((257, 257), (353, 481)):
            padding = compute_padding(image.shape[0], image.shape[1], height, width)
            padded = np.pad(image, ((padding.top, padding.bottom), (padding.left, padding.right),
                                    (0, 0)))
            expected = resize_bilinear(padded[np.newaxis],
                                       np.array([height, width], np.int32)).numpy()
            np.testing.assert_array_equal(pad_and_resize(image, padding, height, width), expected,
                                          err_msg=f'{path.name} at {height}x{width}')


def _rounded_like_the_int8_network(exact: np.ndarray) -> np.ndarray:
    """Round to whole grey levels, halves to even, as the converter's int8 model did (ROUND)."""
    return np.round(exact)


@pytest.mark.parametrize('image_hw, input_hw', [
    ((1080, 810), (257, 257)), ((426, 640), (353, 481)), ((480, 640), (257, 257)),
    ((333, 500), (513, 257)), ((257, 257), (257, 257)), ((1, 1000), (17, 33)),
    ((31, 17), (641, 641)), ((720, 1280), (1025, 1025)), ((5, 3), (1, 1)),
    ((640, 200), (97, 257)), ((1000, 1), (33, 17)), ((4, 400), (257, 257))])
def test_rounded_resize_is_the_exact_one_rounded(image_hw, input_hw):
    """
    The int8 path's OpenCV resize gives the exact resize rounded to whole grey levels.

    Up to the odd value one level off (OpenCV's fixed-point weights), never more: down- and
    upscaling, padding on either side or none, the last row and column repeated as TensorFlow's
    clamping does.
    """
    rng = np.random.default_rng(sum(image_hw) + sum(input_hw) + 1)
    image = rng.integers(0, 256, size=(*image_hw, 3), dtype=np.uint8)
    height, width = input_hw
    padding = compute_padding(image.shape[0], image.shape[1], height, width)
    out = pad_and_resize_rounded(image, padding, height, width)
    assert out.dtype == np.uint8 and out.shape == (1, height, width, 3)
    expected = _rounded_like_the_int8_network(pad_and_resize(image, padding, height, width))
    off = np.abs(out - expected)
    assert off.max() <= 1
    assert np.count_nonzero(off) <= max(2, off.size // 10_000)


def test_rounded_resize_on_real_photos(data_path):
    """On the smoke photos at the sizes the node runs: a few values per million off by one."""
    off_by_one = total = 0
    for path in sorted((data_path / 'smoke').glob('*.jpg')):
        image = np.asarray(Image.open(path).convert('RGB'))
        for height, width in ((257, 257), (353, 481), (641, 641)):
            padding = compute_padding(image.shape[0], image.shape[1], height, width)
            expected = _rounded_like_the_int8_network(
                pad_and_resize(image, padding, height, width))
            off = np.abs(pad_and_resize_rounded(image, padding, height, width) - expected)
            assert off.max() <= 1, f'{path.name} at {height}x{width}'
            off_by_one += int(np.count_nonzero(off))
            total += off.size
    assert off_by_one <= total // 100_000


@pytest.mark.parametrize('image_hw, input_hw', [
    ((480, 640), (257, 257)), ((720, 1280), (257, 257)), ((720, 1280), (353, 481)),
    ((425, 640), (353, 481)), ((100, 1000), (641, 641)), ((3, 400), (257, 257))])
def test_rows_of_padding_read_as_a_border_give_the_padded_image_s_values(image_hw, input_hw):
    """Rows of padding are not made in memory; the int8 input is the padded image's anyway."""
    rng = np.random.default_rng(sum(image_hw) * sum(input_hw))
    image = rng.integers(0, 256, size=(*image_hw, 3), dtype=np.uint8)
    height, width = input_hw
    padding = compute_padding(image.shape[0], image.shape[1], height, width)
    assert padding.top and not padding.left
    padded = np.pad(image, ((padding.top, padding.bottom), (0, 0), (0, 0)))
    to_source = np.array([[padded.shape[1] / width, 0.0, 0.0],
                          [0.0, padded.shape[0] / height, 0.0]])
    expected = cv2.warpAffine(padded, to_source, (width, height),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
    assert np.array_equal(pad_and_resize_rounded(image, padding, height, width)[0], expected)


@pytest.mark.parametrize('padding', [Padding(top=5, bottom=0, left=0, right=0),
                                     Padding(top=0, bottom=7, left=0, right=0),
                                     Padding(top=0, bottom=0, left=3, right=0)])
def test_uneven_padding_repeats_the_edge_it_has_not_padded(padding):
    """Any padding the function is given, not only compute_padding's even one."""
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(10, 300, 3), dtype=np.uint8)
    padded = np.pad(image, ((padding.top, padding.bottom), (padding.left, padding.right), (0, 0)))
    to_source = np.array([[padded.shape[1] / 257, 0.0, 0.0], [0.0, padded.shape[0] / 257, 0.0]])
    expected = cv2.warpAffine(padded, to_source, (257, 257),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_REPLICATE)
    assert np.array_equal(pad_and_resize_rounded(image, padding, 257, 257)[0], expected)
