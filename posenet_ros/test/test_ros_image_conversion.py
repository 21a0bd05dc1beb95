"""
Image / CompressedImage -> RGB: every supported encoding of a real photo, padding, bad input.

The raw bytes of each encoding are built here independently of the code under test (NumPy
slicing for Bayer mosaics, the BT.601 video-range equations for YUV 4:2:2 byte packing), so a
wrong Bayer code, a swapped byte order or a misread step shows up as a wrong picture.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import cv2
import numpy as np
from PIL import Image as PilImage
from posenet_ros.ros.image_conversion import (compressed_to_rgb, cv_bridge_status, image_to_rgb,
                                              ImageConversionError, MAX_IMAGE_SIDE,
                                              rgb_to_image_msg, SUPPORTED_ENCODINGS)
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

PATCHES = {'red': ((200, 30, 30), 0), 'green': ((30, 190, 30), 1), 'blue': ((40, 40, 210), 2)}
PATCH = 24  # side of each flat colour patch, pixels


@pytest.fixture(scope='module')
def photo(data_path) -> np.ndarray:
    """
    Return a real COCO photo in RGB, cropped to an even width.

    With three flat colour patches.
    """
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
    """
    Return the raw sensor image of a colour filter array.

    Its top-left 2x2 cell is `pattern`.
    """
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
    """
    Return an Image of `pixels` with `pad` junk bytes after each row.

    `pixels`: (H, W[, C]), uint8 or uint16.
    """
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
    base = {'height': 4, 'width': 6, 'encoding': 'rgb8', 'step': 18, 'data': bytes(72)}
    base.update(fields)
    return Image(**base)


@pytest.mark.parametrize('fields, cause', [
    ({'encoding': 'rgb32f'}, r"unsupported encoding 'rgb32f'.*rgb8.*bayer_rggb8"),
    ({'width': 0, 'step': 0, 'data': b''}, r'zero size: 0x4'),
    ({'height': 0, 'data': b''}, r'zero size: 6x0'),
    ({'width': MAX_IMAGE_SIDE + 1, 'step': 3 * (MAX_IMAGE_SIDE + 1)},
     r'larger than MAX_IMAGE_SIDE'),
    ({'height': MAX_IMAGE_SIDE + 1}, r'larger than MAX_IMAGE_SIDE'),
    ({'step': 17}, r'step 17 is smaller than width \* bytes per pixel = 6 \* 3 = 18'),
    ({'encoding': 'mono16', 'step': 11}, r'step 11 is smaller than .* = 6 \* 2 = 12'),
    ({'data': bytes(71)}, r'data holds 71 bytes, fewer than step \* height = 18 \* 4 = 72'),
    ({'encoding': 'yuv422', 'width': 5, 'step': 10, 'data': bytes(40)}, r'odd width \(5\)'),
    ({'encoding': 'bayer_rggb8', 'height': 1, 'step': 6, 'data': bytes(6)}, r'at least 2x2'),
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


@pytest.mark.dds
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


# -- cv_bridge ------------------------------------------------------------------------------------
# The ROS 2 cv_bridge (scripts/setup.sh builds it from ../shared/ros2_overlay) is the reference the
# own conversion is held to, with its known differences stated as explicit expectations:
#   - 16-bit values: cv_bridge scales by 255/65535 and rounds, we keep the high byte: 1 level;
#   - rows whose step is not a multiple of the pixel size: cv_bridge misreads every row;
#   - is_bigendian set: cv_bridge fails under NumPy 2 (it calls ndarray.newbyteorder);
#   - 'uyvy' and 'yuyv': cv_bridge knows only the names 'yuv422' and 'yuv422_yuy2'.

CV_BRIDGE_NAME = {'uyvy': 'yuv422', 'yuyv': 'yuv422_yuy2'}  # our aliases -> cv_bridge's names


def sixteen_bit(encoding: str) -> bool:
    return encoding.endswith('16')


def bytes_per_pixel(encoding: str, pixels: np.ndarray) -> int:
    if encoding in ('yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv'):
        return 2
    return pixels.itemsize * (1 if pixels.ndim == 2 else pixels.shape[2])


@pytest.fixture(scope='module')
def bridge():
    """
    Return a working ROS 2 cv_bridge; skip without one.

    Fails under POSENET_REQUIRE_SHARED=1.
    """
    works, reason = cv_bridge_status()
    if not works:
        message = (f'no working ROS 2 cv_bridge here ({reason}): scripts/setup.sh builds one from '
                   '../shared/ros2_overlay into .ros2_overlay, env.sh sources it')
        if os.environ.get('POSENET_REQUIRE_SHARED') == '1':
            pytest.fail(message)
        pytest.skip(message)
    from cv_bridge import CvBridge
    return CvBridge()


def differences(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    assert theirs.shape == ours.shape and theirs.dtype == np.uint8
    return np.abs(ours.astype(np.int16) - theirs.astype(np.int16))


@pytest.mark.parametrize('encoding', SUPPORTED_ENCODINGS)
@pytest.mark.parametrize('rows', ['unpadded', 'padded by whole pixels', 'padded by one byte'])
def test_cv_bridge_reads_little_endian_images_as_we_do(photo, bridge, encoding, rows):
    pixels, _, _ = encode(encoding, photo)
    pixel_size = bytes_per_pixel(encoding, pixels)
    pad = {'unpadded': 0, 'padded by whole pixels': 4 * pixel_size, 'padded by one byte': 1}[rows]
    msg = raw_image(encoding, pixels, pad=pad)
    ours = image_to_rgb(msg)
    theirs_msg = raw_image(CV_BRIDGE_NAME.get(encoding, encoding), pixels, pad=pad)
    theirs = bridge.imgmsg_to_cv2(theirs_msg, desired_encoding='rgb8')
    difference = differences(ours, theirs)
    if pad % pixel_size:
        # Known: cv_bridge takes the row length as int(step / bytes per pixel) and reads every row
        # from the wrong place (why the node never hands it a padded message).
        assert difference.mean() > 20, f'{encoding}: cv_bridge now reads {rows} rows right'
    else:
        tolerance = 1 if sixteen_bit(encoding) else 0  # 255/65535 with rounding vs the high byte
        assert difference.max() <= tolerance, f'{encoding}: differs by {difference.max()}'
    if encoding in CV_BRIDGE_NAME:
        with pytest.raises(Exception, match='Unrecognized image encoding'):
            bridge.imgmsg_to_cv2(msg, desired_encoding='rgb8')


@pytest.mark.parametrize('encoding', SUPPORTED_ENCODINGS)
def test_big_endian_images_read_as_cv_bridge_reads_their_little_endian_twin(photo, bridge,
                                                                            encoding):
    pixels, _, _ = encode(encoding, photo)
    ours = image_to_rgb(raw_image(encoding, pixels, pad=3, big_endian=True))
    twin = raw_image(CV_BRIDGE_NAME.get(encoding, encoding), pixels)
    difference = differences(ours, bridge.imgmsg_to_cv2(twin, desired_encoding='rgb8'))
    assert difference.max() <= (1 if sixteen_bit(encoding) else 0), encoding
    # Known: cv_bridge itself cannot read a big-endian message under NumPy 2.
    big = raw_image(CV_BRIDGE_NAME.get(encoding, encoding), pixels, big_endian=True)
    with pytest.raises(AttributeError, match='newbyteorder'):
        bridge.imgmsg_to_cv2(big, desired_encoding='rgb8')


@pytest.mark.parametrize('encoding', sorted(set(SUPPORTED_ENCODINGS) - set(CV_BRIDGE_NAME)))
def test_the_cv_bridge_path_hands_cv_bridge_clean_rows(photo, bridge, encoding):
    """
    An encoding we do not know reaches cv_bridge in clean rows, so its result is right.

    Padding that is not a whole number of pixels and big-endian data are undone before
    cv_bridge sees them.
    """
    from posenet_ros.ros.image_conversion import _convert_with_cv_bridge
    pixels, _, _ = encode(encoding, photo)
    ours = image_to_rgb(raw_image(encoding, pixels))
    tolerance = 1 if sixteen_bit(encoding) else 0
    for msg in (raw_image(encoding, pixels, pad=1), raw_image(encoding, pixels, big_endian=True),
                raw_image(encoding, pixels, pad=5, big_endian=True)):
        through_bridge = _convert_with_cv_bridge(msg)
        assert through_bridge.flags.c_contiguous
        assert differences(ours, through_bridge).max() <= tolerance, (encoding, msg.step)


# Encodings posenet_node does not convert itself: OpenCV's generic types. The cv_bridge built
# here (3.4) turns none of them into rgb8 ("not a color format"); a cv_bridge that does widens
# what the node accepts.
CV_BRIDGE_ONLY = {'8UC1': (np.uint8, 1), '8UC3': (np.uint8, 3), '8UC4': (np.uint8, 4),
                  '16UC1': (np.uint16, 1), '16UC3': (np.uint16, 3), '32FC1': (np.float32, 1)}


@pytest.mark.parametrize('encoding', list(CV_BRIDGE_ONLY))
def test_encodings_only_cv_bridge_knows_convert_as_cv_bridge_says(photo, bridge, encoding):
    dtype, channels = CV_BRIDGE_ONLY[encoding]
    pixels = photo[..., :channels] if channels <= 3 else np.concatenate(
        [photo, photo[..., :1]], axis=2)
    pixels = np.squeeze(pixels.astype(dtype) * (257 if dtype == np.uint16 else 1))
    clean = raw_image(encoding, pixels)
    variants = [raw_image(encoding, pixels, pad=1),
                raw_image(encoding, pixels, pad=7, big_endian=True)]
    try:
        expected = bridge.imgmsg_to_cv2(clean, desired_encoding='rgb8')
    except Exception as error:  # cv_bridge refuses it: so does the node, quoting cv_bridge
        for msg in [clean] + variants:
            with pytest.raises(ImageConversionError) as refused:
                image_to_rgb(msg)
            assert f"unsupported encoding '{encoding}' (cv_bridge: " in str(refused.value)
            assert str(error).split('.')[0] in str(refused.value)
        return
    for msg in [clean] + variants:
        np.testing.assert_array_equal(image_to_rgb(msg), expected)


def test_without_cv_bridge_an_unknown_encoding_is_refused_with_the_list(photo):
    msg = raw_image('8UC3', photo)
    with pytest.raises(ImageConversionError, match=r"unsupported encoding '8UC3'; supported: "
                                                   r'rgb8, .*\(cv_bridge not used\)'):
        image_to_rgb(msg, use_cv_bridge=False)


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8', 'mono8', 'mono16'])
def test_published_images_are_what_cv_bridge_makes(photo, bridge, encoding):
    """
    Published images (poses/image) are laid out as cv_bridge's cv2_to_imgmsg does.

    rgb_to_image_msg lays a message out as cv_bridge's cv2_to_imgmsg does, and cv_bridge reads
    it back to the picture.
    """
    header = Header(frame_id='camera_optical')
    ours = rgb_to_image_msg(photo, header, encoding)
    conversions = {'rgb8': None, 'bgr8': cv2.COLOR_RGB2BGR, 'rgba8': cv2.COLOR_RGB2RGBA,
                   'bgra8': cv2.COLOR_RGB2BGRA, 'mono8': cv2.COLOR_RGB2GRAY,
                   'mono16': cv2.COLOR_RGB2GRAY}
    pixels = photo if conversions[encoding] is None else cv2.cvtColor(photo, conversions[encoding])
    if encoding == 'mono16':
        pixels = pixels.astype(np.uint16) * 257  # grey g as 16 bits: high and low byte g
    theirs = bridge.cv2_to_imgmsg(pixels, encoding=encoding, header=header)
    for field in ('height', 'width', 'encoding', 'is_bigendian', 'step'):
        assert getattr(ours, field) == getattr(theirs, field), field
    assert ours.header == theirs.header
    assert bytes(ours.data) == bytes(theirs.data)
    expected = as_rgb(gray_of(photo)) if encoding.startswith('mono') else photo
    np.testing.assert_array_equal(bridge.imgmsg_to_cv2(ours, desired_encoding='rgb8'), expected)


def test_a_numpy_1_cv_bridge_is_refused_with_the_reason_and_no_noise(tmp_path):
    """
    The probe refuses a cv_bridge built for NumPy 1 with one line and prints nothing.

    An apt cv_bridge (built for NumPy 1) in the venv's NumPy 2: its import makes NumPy print a
    warning with a traceback and fail.
    """
    fake = tmp_path / 'cv_bridge'
    fake.mkdir()
    # What a module compiled against NumPy 1.x does on import: ask NumPy for its C API table.
    (fake / '__init__.py').write_text('from numpy.core._multiarray_umath import _ARRAY_API\n')
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}")
    result = subprocess.run(
        [sys.executable, '-c', 'from posenet_ros.ros.image_conversion import cv_bridge_status; '
                               'print(cv_bridge_status())'],
        env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "(False, 'cv_bridge not used: it was built for NumPy 1.x and cannot be loaded with " \
        f'NumPy {np.__version__}' in result.stdout, result.stdout
    assert 'Traceback' not in result.stderr and 'NumPy 1.x' not in result.stderr, result.stderr
