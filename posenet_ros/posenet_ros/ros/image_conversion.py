"""
sensor_msgs Image / CompressedImage <-> RGB NumPy arrays, for every frame the node sees.

Raw images are read through a zero-copy `np.frombuffer` view of `msg.data` and converted with one
OpenCV call, so no Python code runs per pixel. Every encoding in `SUPPORTED_ENCODINGS` is always
converted here: rgb8 without padding is returned as a view, and padding, `is_bigendian` and
16-bit values (their high byte) are handled exactly. The ROS 2 cv_bridge, where it is installed
and passes a start-up probe, only widens the set: an encoding not listed goes to cv_bridge after
the same size, step and data-length checks, as a message with unpadded little-endian rows
(cv_bridge misreads rows whose step is not a multiple of the pixel size, and cannot read
big-endian data with NumPy 2). cv_bridge is not used for the listed encodings because it reads
padded rows wrongly, rounds 16-bit values to 8 bits differently and is slower (see
`posenet_bench_image_conversion`). A cv_bridge that cannot work here (built for NumPy 1
or OpenCV 4's Python type codes, or the ROS 1 port on PyPI) is refused once, with the reason in
`cv_bridge_status()`.
"""
from __future__ import annotations

import array
import contextlib
from dataclasses import dataclass
import functools
import io

import cv2
import numpy as np
# Larger images are refused (MAX_IMAGE_SIDE on a side; MAX_DECODED_BYTES for a compressed one):
# PoseNet downsizes to a few hundred pixels anyway, and a bogus header (or a decompression bomb)
# must not make the node allocate gigabytes.
from posenet_ros.engine.image_header import (  # noqa: F401 - the limits are part of this API
    check_decodable, ImageHeaderError, MAX_DECODED_BYTES, MAX_IMAGE_SIDE, read_image_header)
from sensor_msgs.msg import CompressedImage, Image


class ImageConversionError(ValueError):
    """An image message that cannot be turned into RGB pixels; the message says why."""


@dataclass(frozen=True)
class _Layout:
    channels: int         # values per pixel in msg.data
    bytes_per_value: int  # 1 or 2 (16-bit values are reduced to their high byte)
    to_rgb: int | None    # cv2.cvtColor code from the 8-bit layout to RGB; None: already RGB
    min_side: int = 1     # Bayer demosaicing needs at least one full 2x2 cell
    even_width: bool = False  # YUV 4:2:2 stores pixels in pairs

    @property
    def bytes_per_pixel(self) -> int:
        return self.channels * self.bytes_per_value


# ROS names the Bayer pattern by the top-left 2x2 cell; OpenCV's classic code names the pattern
# seen from the second row and column, hence rggb -> BayerBG, bggr -> BayerRG, gbrg -> BayerGR,
# grbg -> BayerGB (the mapping cv_bridge uses; OpenCV >= 4.10 also spells them BayerRGGB etc.).
_BAYER = {'rggb': cv2.COLOR_BayerBG2RGB, 'bggr': cv2.COLOR_BayerRG2RGB,
          'gbrg': cv2.COLOR_BayerGR2RGB, 'grbg': cv2.COLOR_BayerGB2RGB}

_LAYOUTS: dict[str, _Layout] = {
    'rgb8': _Layout(3, 1, None),
    'bgr8': _Layout(3, 1, cv2.COLOR_BGR2RGB),
    'rgba8': _Layout(4, 1, cv2.COLOR_RGBA2RGB),
    'bgra8': _Layout(4, 1, cv2.COLOR_BGRA2RGB),
    'mono8': _Layout(1, 1, cv2.COLOR_GRAY2RGB),
    'rgb16': _Layout(3, 2, None),
    'bgr16': _Layout(3, 2, cv2.COLOR_BGR2RGB),
    'rgba16': _Layout(4, 2, cv2.COLOR_RGBA2RGB),
    'bgra16': _Layout(4, 2, cv2.COLOR_BGRA2RGB),
    'mono16': _Layout(1, 2, cv2.COLOR_GRAY2RGB),
    # YUV 4:2:2. ROS 'yuv422' (alias 'uyvy') is U0 Y0 V0 Y1; 'yuv422_yuy2' (alias 'yuyv') is
    # Y0 U0 Y1 V0. OpenCV's YUY2 code reads the latter; both use BT.601 video range.
    'yuv422': _Layout(2, 1, cv2.COLOR_YUV2RGB_UYVY, even_width=True),
    'uyvy': _Layout(2, 1, cv2.COLOR_YUV2RGB_UYVY, even_width=True),
    'yuv422_yuy2': _Layout(2, 1, cv2.COLOR_YUV2RGB_YUY2, even_width=True),
    'yuyv': _Layout(2, 1, cv2.COLOR_YUV2RGB_YUY2, even_width=True),
    **{f'bayer_{pattern}8': _Layout(1, 1, code, min_side=2) for pattern, code in _BAYER.items()},
    **{f'bayer_{pattern}16': _Layout(1, 2, code, min_side=2) for pattern, code in _BAYER.items()},
}

SUPPORTED_ENCODINGS = tuple(_LAYOUTS)


def image_to_rgb(msg: Image, *, use_cv_bridge: bool = True) -> np.ndarray:
    """
    Return the pixels of a raw Image as a C-contiguous (height, width, 3) uint8 RGB array.

    16-bit encodings keep their high byte (value >> 8, honouring `is_bigendian`). For rgb8 rows
    without padding the result is a read-only view of `msg.data` (no copy); take `np.array(...)`
    of it to draw into it. An encoding not in SUPPORTED_ENCODINGS goes to a working cv_bridge
    (`use_cv_bridge=False`: refused instead). Raises ImageConversionError naming the problem.
    """
    encoding = msg.encoding.strip().lower()
    layout = _LAYOUTS.get(encoding)
    if layout is None:
        return _convert_with_cv_bridge(msg, use_cv_bridge)
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    _check_size(width, height, f"encoding '{encoding}'")
    if min(width, height) < layout.min_side:
        raise ImageConversionError(
            f'{width}x{height} {encoding} image is too small: Bayer images need at least 2x2 '
            'pixels')
    if layout.even_width and width % 2:
        raise ImageConversionError(
            f'{encoding} image has an odd width ({width}): YUV 4:2:2 stores pixels in pairs')
    rows = _rows(msg, encoding, width, height, step, layout.bytes_per_pixel)
    if layout.bytes_per_value == 2:
        # The high byte of each 16-bit value (value >> 8), in one contiguous array: faster than
        # copying every other byte out of a strided view.
        values = rows.view('>u2' if msg.is_bigendian else '<u2')
        rows = (values >> 8).astype(np.uint8)
    pixels = rows.reshape(height, width, layout.channels)
    if layout.channels == 1:
        pixels = pixels[..., 0]
    if layout.to_rgb is None:
        if pixels.flags.c_contiguous:
            pixels.flags.writeable = False  # a view of msg.data: writing would change the message
            return pixels
        return np.ascontiguousarray(pixels)
    # cvtColor takes padded rows as they are, but not pixels strided apart (picked high bytes).
    if not pixels[0].flags.c_contiguous:
        pixels = np.ascontiguousarray(pixels)
    return cv2.cvtColor(pixels, layout.to_rgb)


def _rows(msg: Image, encoding: str, width: int, height: int, step: int,
          bytes_per_pixel: int) -> np.ndarray:
    """(height, width * bytes_per_pixel) uint8 view of msg.data, row padding skipped; checked."""
    row_bytes = width * bytes_per_pixel
    if step < row_bytes:
        raise ImageConversionError(
            f'step {step} is smaller than width * bytes per pixel = {width} * '
            f'{bytes_per_pixel} = {row_bytes} for {encoding}')
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size < step * height:
        raise ImageConversionError(
            f'data holds {data.size} bytes, fewer than step * height = {step} * {height} = '
            f'{step * height}')
    # Padding at the end of each row is skipped by the row stride of the view.
    return data[:step * height].reshape(height, step)[:, :row_bytes]


def compressed_to_rgb(msg: CompressedImage) -> np.ndarray:
    """
    Decode a CompressedImage (JPEG, PNG, WebP, ...) to (H, W, 3) uint8 RGB.

    `format` is informational ('jpeg', 'bgr8; jpeg compressed bgr8', 'png'...): the codec is
    recognised from the data. Grey images become grey RGB, alpha is dropped, 16-bit images keep
    their high byte. The size is read from the header first (`engine.image_header`), so an
    image larger than MAX_IMAGE_SIDE or MAX_DECODED_BYTES, or one whose size cannot be read, is
    refused before any pixel is decoded. Whatever the bytes, the only exception raised is
    ImageConversionError, saying why.
    """
    fmt = msg.format.strip() or 'unspecified'
    what = f"compressed image (format '{fmt}')"
    if 'compresseddepth' in fmt.lower().replace(' ', ''):
        raise ImageConversionError(
            f"format '{fmt}' is a compressed depth image, not a camera image: subscribe to the "
            'colour or mono image topic instead')
    data = np.frombuffer(msg.data, dtype=np.uint8)
    if data.size == 0:
        raise ImageConversionError(f'{what} has empty data')
    try:
        header = read_image_header(data)
        check_decodable(header)
    except ImageHeaderError as error:
        raise ImageConversionError(f'{what}, {data.size} bytes, refused: {error}') from None
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise ImageConversionError(
            f'could not decode {data.size} bytes of {what}: OpenCV says '
            f'{_first_line(error)}') from None
    if image is None or image.size == 0:
        raise ImageConversionError(
            f'could not decode {data.size} bytes of {what}: the data is corrupt or not in an '
            'image format OpenCV reads (JPEG, PNG, ...)')
    if image.shape[:2] != (header.height, header.width):
        raise ImageConversionError(
            f'{what} decoded to {image.shape[1]}x{image.shape[0]} pixels, not the '
            f'{header.width}x{header.height} its header declares')
    try:
        return _decoded_to_rgb(image, what)
    except cv2.error as error:
        raise ImageConversionError(
            f'{what} decodes to an image of shape {image.shape} and {image.dtype} that cannot '
            f'be converted to RGB: {_first_line(error)}') from None


def _decoded_to_rgb(image: np.ndarray, what: str) -> np.ndarray:
    """Convert an array as cv2.imdecode returns it (grey/BGR/BGRA, 8 or 16 bits) to uint8 RGB."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageConversionError(
            f'{what} decodes to {image.dtype} values; only 8- and 16-bit images are supported')
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    channels = image.shape[2]
    if channels == 1 or channels == 2:  # grey, or grey + alpha
        return cv2.cvtColor(np.ascontiguousarray(image[..., 0]), cv2.COLOR_GRAY2RGB)
    if channels == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    raise ImageConversionError(f'{what} decodes to {channels} channels; expected 1 to 4')


def _first_line(error: Exception) -> str:
    """Return OpenCV's error text without its source-location lines."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


_OUTPUT_ENCODINGS = ('rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'mono16')


def rgb_to_image_msg(rgb: np.ndarray, header=None, encoding: str = 'rgb8') -> Image:
    """
    Return a raw Image holding an (H, W, 3) uint8 RGB array in `encoding`, rows unpadded.

    `encoding` is one of rgb8, bgr8, rgba8, bgra8 (alpha 255), mono8, mono16 (grey * 257,
    little-endian, so that image_to_rgb gives the grey back). `header` is used as is.
    """
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f'expected an (H, W, 3) uint8 RGB array, got {rgb.dtype} {rgb.shape}')
    conversions = {
        'rgb8': None, 'bgr8': cv2.COLOR_RGB2BGR, 'rgba8': cv2.COLOR_RGB2RGBA,
        'bgra8': cv2.COLOR_RGB2BGRA, 'mono8': cv2.COLOR_RGB2GRAY, 'mono16': cv2.COLOR_RGB2GRAY}
    if encoding not in conversions:
        raise ValueError(f"cannot publish encoding '{encoding}'; choose one of "
                         f"{', '.join(_OUTPUT_ENCODINGS)}")
    height, width = rgb.shape[:2]
    pixels = rgb if conversions[encoding] is None else cv2.cvtColor(rgb, conversions[encoding])
    if encoding == 'mono16':
        pixels = pixels.astype('<u2') * np.uint16(257)
    pixels = np.ascontiguousarray(pixels)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width = height, width
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = pixels.nbytes // height if height else 0
    data = array.array('B')
    data.frombytes(pixels.reshape(-1).view(np.uint8))  # one copy, straight from the array
    msg.data = data
    return msg


def cv_bridge_status() -> tuple[bool, str]:
    """
    Whether a working ROS 2 cv_bridge is available, and one line saying so or why not.

    Probed once per process (the first call imports cv_bridge and converts a test image); the
    node logs the line at start, so an unusable cv_bridge is never a silent surprise.
    """
    bridge, reason = _cv_bridge()
    return bridge is not None, reason


def _check_size(width: int, height: int, what: str) -> None:
    if width <= 0 or height <= 0:
        raise ImageConversionError(f'{what} has zero size: {width}x{height} pixels')
    if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
        raise ImageConversionError(
            f'{what} is {width}x{height} pixels, larger than MAX_IMAGE_SIDE = {MAX_IMAGE_SIDE} '
            'on a side')


@functools.cache
def _cv_bridge():
    """
    (CvBridge or None, reason): a bridge that really converts a ROS 2 Image, tried once.

    What can go wrong on a real install, each refused with a reason the node logs: no cv_bridge;
    the ROS 1 port from PyPI (fails on ROS 2 messages); a cv_bridge built for NumPy 1 (e.g. an
    apt one) under NumPy 2, whose import fails; an upstream cv_bridge under OpenCV 5's `cv2`
    (its Python code takes type codes from `cv2`, which OpenCV 5 renumbered), which converts
    wrongly or raises.
    """
    noise = io.StringIO()  # NumPy prints its ABI complaint with a traceback: keep it out
    try:
        with contextlib.redirect_stderr(noise):
            from cv_bridge import CvBridge
            bridge = CvBridge()
            probe = Image(height=2, width=2, encoding='bgr8', step=6, data=bytes(range(12)))
            converted = bridge.imgmsg_to_cv2(probe, desired_encoding='rgb8')
        if converted.shape != (2, 2, 3) or converted[0, 0].tolist() != [2, 1, 0]:
            return None, (f'cv_bridge not used: it converted a test image wrongly '
                          f'({np.asarray(converted).tolist()}){_opencv_hint()}')
    except Exception as error:  # ImportError, or the ROS 1 port failing on a ROS 2 message
        return None, f'cv_bridge not used: {_cv_bridge_failure(error, noise.getvalue())}'
    return bridge, ('cv_bridge works; used only for encodings posenet_node does not convert '
                    'itself')


def _cv_bridge_failure(error: Exception, stderr: str) -> str:
    """One line on why cv_bridge failed, naming a NumPy or OpenCV mismatch when it is one."""
    text = f'{error} {stderr}'
    if isinstance(error, ModuleNotFoundError) and error.name == 'cv_bridge':
        return 'not installed'
    if 'compiled using NumPy 1.x' in text or 'numpy.core.multiarray failed to import' in text:
        return (f'it was built for NumPy 1.x and cannot be loaded with NumPy {np.__version__} '
                '(an apt cv_bridge in a venv with NumPy 2: build cv_bridge against this NumPy, '
                'or run without the venv)')
    first_line = str(error).strip().splitlines()[0] if str(error).strip() else ''
    return f'{type(error).__name__}: {first_line}{_opencv_hint()}'


def _opencv_hint() -> str:
    if int(cv2.__version__.split('.')[0]) >= 5:
        return (f' (with OpenCV {cv2.__version__}: a cv_bridge whose Python module takes '
                'OpenCV 4 type codes from cv2 fails under OpenCV 5, which renumbered them)')
    return ''


def _convert_with_cv_bridge(msg: Image, use_cv_bridge: bool = True) -> np.ndarray:
    """
    Convert an encoding this module does not know through cv_bridge, after the same checks.

    cv_bridge gets the pixels as unpadded, little-endian rows: it computes the row length as
    `step / bytes per pixel`, wrong for padding that is not a whole number of pixels, and its
    big-endian path uses an ndarray method NumPy 2 removed.
    """
    encoding = msg.encoding.strip()
    supported = ', '.join(SUPPORTED_ENCODINGS)
    bridge, reason = _cv_bridge() if use_cv_bridge else (None, 'cv_bridge not used')
    if bridge is None:
        raise ImageConversionError(
            f"unsupported encoding '{encoding}'; supported: {supported} ({reason})")
    try:
        dtype, channels = bridge.encoding_to_dtype_with_channels(encoding)
    except Exception as error:
        raise ImageConversionError(
            f"unsupported encoding '{encoding}' (cv_bridge: {error}); supported without "
            f'cv_bridge: {supported}') from error
    value = np.dtype(dtype)
    width, height, step = int(msg.width), int(msg.height), int(msg.step)
    _check_size(width, height, f"encoding '{encoding}'")
    rows = _rows(msg, encoding, width, height, step, value.itemsize * channels)
    if msg.is_bigendian and value.itemsize > 1:
        rows = rows.view(value.newbyteorder('>')).astype(value.newbyteorder('<')).view(np.uint8)
    clean = Image(header=msg.header, height=height, width=width, encoding=encoding,
                  is_bigendian=0, step=rows.shape[1])
    clean.data = np.ascontiguousarray(rows).tobytes()
    try:
        rgb = bridge.imgmsg_to_cv2(clean, desired_encoding='rgb8')
    except Exception as error:
        raise ImageConversionError(
            f"unsupported encoding '{encoding}' (cv_bridge: {error}); supported without "
            f'cv_bridge: {supported}') from error
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.shape != (height, width, 3):
        raise ImageConversionError(
            f"cv_bridge turned encoding '{encoding}' into {rgb.dtype} {rgb.shape}, not "
            f'({height}, {width}, 3) uint8 RGB')
    return np.ascontiguousarray(rgb)
