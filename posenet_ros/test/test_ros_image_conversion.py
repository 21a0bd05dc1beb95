"""Image / CompressedImage -> RGB: every supported encoding of a real photo, padding, bad input.

The raw bytes of each encoding are built here independently of the code under test (NumPy
slicing for Bayer mosaics, the BT.601 video-range equations for YUV 4:2:2 byte packing), so a
wrong Bayer code, a swapped byte order or a misread step shows up as a wrong picture.
"""
from __future__ import annotations

import time
import uuid

import cv2
import numpy as np
import pytest
from PIL import Image as PilImage
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from posenet_ros.ros.image_conversion import (
    MAX_IMAGE_SIDE, SUPPORTED_ENCODINGS, ImageConversionError, compressed_to_rgb,
    cv_bridge_status, image_to_rgb, rgb_to_image_msg)

PATCHES = {'red': ((200, 30, 30), 0), 'green': ((30, 190, 30), 1), 'blue': ((40, 40, 210), 2)}
PATCH = 24  # side of each flat colour patch, pixels


@pytest.fixture(scope='module')
def photo(data_path) -> np.ndarray:
    """A real COCO photo (RGB), cropped to an even width, with three flat colour patches."""
    bgr = cv2.imread(str(data_path / 'smoke' / 'coco_val2017_000000005001.jpg'))
    assert bgr is not None
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)[:239, :318].copy()  # odd height, even width
    for index, (color, _) in enumerate(PATCHES.values()):
        rgb[16:16 + PATCH, 16 + index * 2 * PATCH:16 + (index * 2 + 1) * PATCH] = color
    return rgb


def gray_of(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def as_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


def widen16(values8: np.ndarray, seed: int = 0) -> np.ndarray:
    """16-bit values whose high byte is values8 and whose low byte is noise."""
    noise = np.random.default_rng(seed).integers(0, 256, values8.shape, dtype=np.uint16)
    return (values8.astype(np.uint16) << 8) | noise


def bayer_mosaic(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """The raw sensor image of a colour filter array whose top-left 2x2 cell is `pattern`."""
    channel = {'r': 0, 'g': 1, 'b': 2}
    raw = np.empty(rgb.shape[:2], dtype=rgb.dtype)
    for cell, letter in enumerate(pattern):
        row, col = divmod(cell, 2)
        raw[row::2, col::2] = rgb[row::2, col::2, channel[letter]]
    return raw


def yuv422_bytes(rgb: np.ndarray, order: str) -> np.ndarray:
    """(H, W * 2) bytes of BT.601 video-range YUV 4:2:2, `order` 'uyvy' or 'yuyv'."""
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    u = (u[:, 0::2] + u[:, 1::2]) / 2  # one U and one V per pair of pixels
    v = (v[:, 0::2] + v[:, 1::2]) / 2
    planes = {'y0': y[:, 0::2], 'y1': y[:, 1::2], 'u': u, 'v': v}
    names = ('u', 'y0', 'v', 'y1') if order == 'uyvy' else ('y0', 'u', 'y1', 'v')
    packed = np.stack([planes[name] for name in names], axis=2)
    return np.clip(np.round(packed), 0, 255).astype(np.uint8).reshape(rgb.shape[0], -1)


def raw_image(encoding: str, pixels: np.ndarray, pad: int = 0, big_endian: bool = False) -> Image:
    """An Image of `pixels` (H, W[, C], uint8 or uint16) with `pad` junk bytes after each row."""
    height, width = pixels.shape[:2]
    if pixels.dtype == np.uint16:
        pixels = pixels.astype('>u2' if big_endian else '<u2')
    rows = np.ascontiguousarray(pixels).view(np.uint8).reshape(height, -1)
    row_bytes = rows.shape[1]
    if encoding in ('yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv'):
        width = row_bytes // 2
    padded = np.full((height, row_bytes + pad), 0xAB, dtype=np.uint8)
    padded[:, :row_bytes] = rows
    return Image(header=Header(frame_id='camera'), height=height, width=width, encoding=encoding,
                 is_bigendian=int(big_endian), step=row_bytes + pad, data=padded.tobytes())


def encode(encoding: str, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(raw pixels in `encoding`, the RGB image_to_rgb must give back, whether exactly)."""
    alpha = np.random.default_rng(1).integers(0, 256, rgb.shape[:2] + (1,), dtype=np.uint8)
    bgr = rgb[..., ::-1]
    if encoding.startswith('bayer_'):
        pattern, bits = encoding[6:10], encoding[10:]
        raw = bayer_mosaic(rgb, pattern)
        return (widen16(raw) if bits == '16' else raw), rgb, False
    if encoding in ('yuv422', 'uyvy'):
        return yuv422_bytes(rgb, 'uyvy'), rgb, False
    if encoding in ('yuv422_yuy2', 'yuyv'):
        return yuv422_bytes(rgb, 'yuyv'), rgb, False
    eight_bit = {
        'rgb': rgb, 'bgr': bgr, 'rgba': np.concatenate([rgb, alpha], axis=2),
        'bgra': np.concatenate([bgr, alpha], axis=2), 'mono': gray_of(rgb)}
    kind, bits = encoding.rstrip('0123456789'), encoding[len(encoding.rstrip('0123456789')):]
    pixels = eight_bit[kind]
    expected = as_rgb(pixels) if kind == 'mono' else rgb
    return (widen16(pixels) if bits == '16' else pixels), expected, True


def assert_patches_keep_hue(rgb: np.ndarray) -> None:
    for index, (name, (_, dominant)) in enumerate(PATCHES.items()):
        left = 16 + index * 2 * PATCH
        inner = rgb[16 + 4:16 + PATCH - 4, left + 4:left + PATCH - 4].reshape(-1, 3).mean(axis=0)
        others = np.delete(inner, dominant)
        assert inner.argmax() == dominant and inner[dominant] > others.max() + 100, \
            f'{name} patch came out as {inner.round()}'


@pytest.mark.parametrize('encoding', SUPPORTED_ENCODINGS)
def test_every_encoding_gives_back_the_photo(photo, encoding):
    pixels, expected, exact = encode(encoding, photo)
    rgb = image_to_rgb(raw_image(encoding, pixels))
    assert rgb.shape == photo.shape and rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    if exact:
        np.testing.assert_array_equal(rgb, expected)
    else:
        # Demosaicing this detailed photo costs 8.3 levels; any wrong Bayer pattern costs > 16.
        # YUV 4:2:2 costs 1.3; reading the other byte order costs > 70.
        limit = 10.0 if encoding.startswith('bayer_') else 2.0
        error = np.abs(rgb.astype(np.int16) - expected).mean()
        assert error < limit, f'{encoding}: mean abs error {error:.2f} levels'
    if not encoding.startswith('mono'):
        assert_patches_keep_hue(rgb)


@pytest.mark.parametrize('encoding', SUPPORTED_ENCODINGS)
@pytest.mark.parametrize('pad', [1, 64])
def test_row_padding_is_skipped(photo, encoding, pad):
    pixels, _, _ = encode(encoding, photo)
    unpadded = image_to_rgb(raw_image(encoding, pixels))
    padded = image_to_rgb(raw_image(encoding, pixels, pad=pad))
    np.testing.assert_array_equal(padded, unpadded)


@pytest.mark.parametrize('encoding', ['mono16', 'rgb16', 'bayer_grbg16'])
def test_sixteen_bit_honours_is_bigendian(photo, encoding):
    pixels, _, _ = encode(encoding, photo)
    little = image_to_rgb(raw_image(encoding, pixels, big_endian=False))
    big = image_to_rgb(raw_image(encoding, pixels, big_endian=True))
    np.testing.assert_array_equal(big, little)
    if encoding == 'mono16':
        np.testing.assert_array_equal(little, as_rgb(gray_of(photo)))


def test_rgb8_is_a_read_only_view_of_the_message(photo):
    msg = rgb_to_image_msg(photo, Header(frame_id='camera'))
    rgb = image_to_rgb(msg)
    np.testing.assert_array_equal(rgb, photo)
    assert np.shares_memory(rgb, np.frombuffer(msg.data, np.uint8))
    with pytest.raises(ValueError):
        rgb[0, 0, 0] = 1


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'mono16'])
def test_published_images_convert_back(photo, encoding):
    header = Header(frame_id='camera_optical')
    msg = rgb_to_image_msg(photo, header, encoding)
    assert (msg.encoding, msg.height, msg.width) == (encoding, photo.shape[0], photo.shape[1])
    assert msg.header.frame_id == 'camera_optical' and msg.step * msg.height == len(msg.data)
    expected = as_rgb(gray_of(photo)) if encoding.startswith('mono') else photo
    np.testing.assert_array_equal(image_to_rgb(msg), expected)


def test_rgb_to_image_msg_refuses_what_it_cannot_publish(photo):
    with pytest.raises(ValueError, match='choose one of'):
        rgb_to_image_msg(photo, None, 'yuv422')
    with pytest.raises(ValueError, match=r'\(H, W, 3\) uint8'):
        rgb_to_image_msg(photo.astype(np.float32), None)


@pytest.mark.parametrize('fmt', ['jpeg', 'rgb8; jpeg compressed bgr8', ''])
def test_jpeg_decodes_to_rgb(photo, fmt):
    ok, jpeg = cv2.imencode('.jpg', photo[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    rgb = compressed_to_rgb(CompressedImage(format=fmt, data=jpeg.tobytes()))
    assert rgb.shape == photo.shape and rgb.dtype == np.uint8
    assert np.abs(rgb.astype(np.int16) - photo).mean() < 3.0
    assert_patches_keep_hue(rgb)


def test_camera_jpeg_matches_pillow(data_path):
    data = (data_path / 'smoke' / 'zidane.jpg').read_bytes()
    rgb = compressed_to_rgb(CompressedImage(format='jpeg', data=data))
    expected = np.asarray(PilImage.open(data_path / 'smoke' / 'zidane.jpg').convert('RGB'))
    assert rgb.shape == expected.shape
    assert np.abs(rgb.astype(np.int16) - expected).mean() < 1.0


def png(array: np.ndarray) -> bytes:
    ok, data = cv2.imencode('.png', array)
    assert ok
    return data.tobytes()


def test_png_variants_decode_exactly(photo):
    bgr = np.ascontiguousarray(photo[..., ::-1])
    gray = gray_of(photo)
    bgra = np.concatenate([bgr, np.full(gray.shape + (1,), 77, np.uint8)], axis=2)
    cases = {
        'bgr8; png compressed bgr8': (png(bgr), photo),
        'png': (png(bgra), photo),
        'mono8; png compressed mono8': (png(gray), as_rgb(gray)),
        'mono16; png compressed mono16': (png(widen16(gray)), as_rgb(gray)),
        'bgr16; png compressed bgr16': (png(widen16(bgr)), photo),
    }
    for fmt, (data, expected) in cases.items():
        np.testing.assert_array_equal(compressed_to_rgb(CompressedImage(format=fmt, data=data)),
                                      expected, err_msg=fmt)


@pytest.mark.parametrize('extension, exact', [
    ('.webp', False), ('.bmp', True), ('.tif', True), ('.ppm', True), ('.jp2', False),
    ('.ras', True), ('.avif', False), ('.jpg', False)])
def test_other_formats_opencv_writes_decode(photo, extension, exact):
    ok, data = cv2.imencode(extension, np.ascontiguousarray(photo[..., ::-1]))
    assert ok
    rgb = compressed_to_rgb(CompressedImage(format=extension[1:], data=data.tobytes()))
    assert rgb.shape == photo.shape
    if exact:
        np.testing.assert_array_equal(rgb, photo)
    else:
        assert_patches_keep_hue(rgb)


@pytest.mark.parametrize('extension, name', [('.hdr', 'Radiance HDR'), ('.pfm', 'PFM'),
                                             ('.pam', 'PAM')])
def test_formats_whose_size_is_not_checked_are_refused(photo, extension, name):
    ok, data = cv2.imencode(extension, np.ascontiguousarray(photo[..., ::-1]))
    assert ok
    with pytest.raises(ImageConversionError, match=f'{name} images are not accepted'):
        compressed_to_rgb(CompressedImage(format=extension[1:], data=data.tobytes()))


def bad_raw(**fields) -> Image:
    base = dict(height=4, width=6, encoding='rgb8', step=18, data=bytes(72))
    base.update(fields)
    return Image(**base)


@pytest.mark.parametrize('fields, cause', [
    (dict(encoding='rgb32f'), r"unsupported encoding 'rgb32f'.*rgb8.*bayer_rggb8"),
    (dict(width=0, step=0, data=b''), r'zero size: 0x4'),
    (dict(height=0, data=b''), r'zero size: 6x0'),
    (dict(width=MAX_IMAGE_SIDE + 1, step=3 * (MAX_IMAGE_SIDE + 1)), r'larger than MAX_IMAGE_SIDE'),
    (dict(height=MAX_IMAGE_SIDE + 1), r'larger than MAX_IMAGE_SIDE'),
    (dict(step=17), r'step 17 is smaller than width \* bytes per pixel = 6 \* 3 = 18'),
    (dict(encoding='mono16', step=11), r'step 11 is smaller than .* = 6 \* 2 = 12'),
    (dict(data=bytes(71)), r'data holds 71 bytes, fewer than step \* height = 18 \* 4 = 72'),
    (dict(encoding='yuv422', width=5, step=10, data=bytes(40)), r'odd width \(5\)'),
    (dict(encoding='bayer_rggb8', height=1, step=6, data=bytes(6)), r'at least 2x2'),
])
def test_bad_raw_images_say_why(fields, cause):
    with pytest.raises(ImageConversionError, match=cause):
        image_to_rgb(bad_raw(**fields))


@pytest.mark.parametrize('fmt, data, cause', [
    ('jpeg', b'', r"format 'jpeg'\) has empty data"),
    ('jpeg', bytes(np.random.default_rng(2).integers(0, 256, 500, dtype=np.uint8)),
     r'500 bytes, refused: not an image format that can be decoded here'),
    ('png', b'\x89PNG\r\n\x1a\n' + bytes(40), r'48 bytes, refused: .*valid IHDR'),
    # An 8x8 frame header, then a scan whose Huffman table was never defined.
    ('jpeg', b'\xff\xd8\xff\xc0\x00\x0b\x08\x00\x08\x00\x08\x01\x01\x11\x00'
     b'\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00' + bytes(10) + b'\xff\xd9',
     r'could not decode 37 bytes .*corrupt'),
    ('jpeg', b'\xff\xd8\xff\xdb\x00\x43' + bytes(67) + b'\xff\xd9',
     r'ends before its frame header'),
    ('jpeg', b'\xff\xd8\xff\xc0\x00\x0b\x08\x80\x00\x80\x00\x01\x01\x11\x00\xff\xd9',
     r'32768x32768 pixels is larger than MAX_IMAGE_SIDE'),
    ('hdr', b'#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 30000 +X 30000\n' + bytes(64),
     r'Radiance HDR images are not accepted'),
    ('16UC1; compressedDepth png', b'\x00' * 20, r'compressed depth image'),
    ('png', png(np.zeros((1, MAX_IMAGE_SIDE + 1), np.uint8)), r'larger than MAX_IMAGE_SIDE'),
])
def test_bad_compressed_images_say_why(fmt, data, cause):
    with pytest.raises(ImageConversionError, match=cause):
        compressed_to_rgb(CompressedImage(format=fmt, data=data))


def test_image_survives_a_dds_round_trip(photo):
    """What a subscriber receives (msg.data as rclpy hands it over) converts like the original."""
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node(f'ros_io_image_test_{uuid.uuid4().hex[:8]}', context=context)
    try:
        topic = f'/ros_io_test_{uuid.uuid4().hex[:8]}/image'
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        received = []
        node.create_subscription(Image, topic, received.append, qos)
        publisher = node.create_publisher(Image, topic, qos)
        pixels, _, _ = encode('bayer_gbrg8', photo)
        sent = raw_image('bayer_gbrg8', pixels, pad=3)
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 20.0
        while not received and time.monotonic() < deadline:
            if publisher.get_subscription_count():
                publisher.publish(sent)
            executor.spin_once(timeout_sec=0.1)
        assert received, 'no image came back over DDS within 20 s'
        np.testing.assert_array_equal(image_to_rgb(received[0]), image_to_rgb(sent))
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def test_cv_bridge_agrees_with_own_conversion(photo):
    """Where a working ROS 2 cv_bridge exists, it reads every encoding the same way we do."""
    works, reason = cv_bridge_status()
    if not works:
        pytest.skip(f'no working ROS 2 cv_bridge here ({reason}); own conversion path tested above')
    from cv_bridge import CvBridge
    bridge = CvBridge()
    for encoding in SUPPORTED_ENCODINGS:
        pixels, _, _ = encode(encoding, photo)
        msg = raw_image(encoding, pixels, pad=2)
        try:
            theirs = bridge.imgmsg_to_cv2(msg, desired_encoding='rgb8')
        except Exception:  # older cv_bridge versions lack some aliases (uyvy, yuyv)
            continue
        # 16-bit: cv_bridge scales by 255/65535 where we keep the high byte: 1 level apart at most
        tolerance = 1 if '16' in encoding else 0
        difference = np.abs(theirs.astype(np.int16) - image_to_rgb(msg, use_cv_bridge=False)).max()
        assert difference <= tolerance, f'{encoding}: cv_bridge differs by {difference}'
