"""
Camera frames read from their serialized bytes equal what rclpy reads, and convert the same.

The node takes Image and CompressedImage frames raw (`image_wire`): for any message the
readers must give rclpy's fields, the pixels must convert to the same RGB, and bytes that are
not a whole message must be refused with a reason, never crash the reader.
"""
from __future__ import annotations

import struct
import subprocess
import sys

from builtin_interfaces.msg import Time
import cv2
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
from node_support import load_rgb
import numpy as np
from posenet_ros.ros import image_wire
from posenet_ros.ros.image_conversion import compressed_to_rgb, image_to_rgb
from posenet_ros.ros.pipeline import Frame, FrameRejected
from posenet_ros.ros.stages.deserialize import DeserializeStage
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

PHOTO = 'coco_kpts/images/000000005802.jpg'
WIRE_SETTINGS = settings(max_examples=300, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow])
texts = st.text(st.characters(min_codepoint=1, exclude_categories=('Cs',)), max_size=20)


@st.composite
def headers(draw):
    return Header(stamp=Time(sec=draw(st.integers(-2**31, 2**31 - 1)),
                             nanosec=draw(st.integers(0, 10**9 - 1))),
                  frame_id=draw(texts))


@st.composite
def images(draw):
    uint32 = st.integers(0, 2**32 - 1)
    return Image(header=draw(headers()), height=draw(uint32), width=draw(uint32),
                 encoding=draw(texts), is_bigendian=draw(st.integers(0, 255)),
                 step=draw(uint32), data=draw(st.binary(max_size=300)))


@st.composite
def compressed_images(draw):
    return CompressedImage(header=draw(headers()), format=draw(texts),
                           data=draw(st.binary(max_size=300)))


def test_this_middleware_s_frames_are_read_raw():
    for message_type in (Image, CompressedImage):
        assert image_wire.reads_like_middleware(message_type), \
            f'rmw_fastrtps sends plain little-endian CDR: the node should take {message_type} raw'


@WIRE_SETTINGS
@given(st.one_of(images(), compressed_images()))
def test_the_readers_give_what_rclpy_reads(message):
    message_type = type(message)
    data = serialize_message(message)
    expected = image_wire._fields(deserialize_message(data, message_type))
    read = image_wire.READERS[message_type]
    seen = read(data)
    assert isinstance(seen, (image_wire.ImageView, image_wire.CompressedImageView))
    assert image_wire._fields(seen) == expected
    assert image_wire._fields(read(data + b'\0' * 3)) == expected  # transport padding ignored
    assert seen.data.readonly  # a view of the bytes: converting must never write into it


@settings(max_examples=500, deadline=None)
@given(st.data())
def test_cut_or_damaged_bytes_are_refused_with_a_reason(data):
    message = data.draw(st.one_of(images(), compressed_images()))
    name = type(message).__name__
    read = image_wire.READERS[type(message)]
    whole = serialize_message(message)
    cut = data.draw(st.integers(0, len(whole) - 1))
    try:
        seen = read(whole[:cut])
    except ValueError as error:
        assert f'not a serialized {name}' in str(error)
    else:  # only padding after the message was cut
        assert cut >= len(whole) - 3
        assert image_wire._fields(seen) == image_wire._fields(read(whole))
    damaged = bytearray(whole)
    for _ in range(data.draw(st.integers(1, 8))):
        damaged[data.draw(st.integers(0, len(whole) - 1))] = data.draw(st.integers(0, 255))
    try:
        read(bytes(damaged))
    except ValueError as error:
        assert f'not a serialized {name}' in str(error)  # anything else is a bug


SHORT_BYTES_READER = """
import itertools, sys
import numpy as np
from posenet_ros.ros import image_wire, pose_array_wire
rng = np.random.default_rng(0)
refused = 0
for length, encapsulation, options in itertools.product(range(41), range(12), range(4)):
    size = max(0, length - 4)
    for body in (bytes(size), rng.integers(0, 256, size, np.uint8).tobytes()):
        data = bytes([0, encapsulation, 0, options])[:length] + body
        for read in (image_wire.read_image, image_wire.read_compressed_image,
                     pose_array_wire.decode):
            try:
                read(data)
            except ValueError:
                refused += 1
            else:
                assert len(data) >= 16, f'{read.__name__} read {data!r}'
print(refused)
"""


def test_short_bytes_in_any_encapsulation_are_refused_without_crashing_the_process():
    """The reader of rclpy segfaults on some payloads of 4 bytes or fewer (e.g. 00 00 00 01)."""
    result = subprocess.run([sys.executable, '-c', SHORT_BYTES_READER], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, \
        f'the reader crashed ({result.returncode}): {result.stderr[-2000:]}'
    assert int(result.stdout) >= 16 * 12 * 4 * 2 * 3  # at least every one under 16 bytes


def big_endian_image(message: Image) -> bytes:
    """Return the message in plain CDR, big endian (encapsulation 0x0000), as a big-endian host."""
    def string(text: str, offset: int) -> bytes:
        raw = text.encode() + b'\0'
        return b'\0' * ((-offset) % 4) + struct.pack('>I', len(raw)) + raw

    body = struct.pack('>iI', message.header.stamp.sec, message.header.stamp.nanosec)
    body += string(message.header.frame_id, len(body))
    body += b'\0' * ((-len(body)) % 4) + struct.pack('>II', message.height, message.width)
    body += string(message.encoding, len(body))
    body += struct.pack('>B', message.is_bigendian)
    body += b'\0' * ((-len(body)) % 4) + struct.pack('>II', message.step, len(message.data))
    return b'\0\0\0\0' + body + bytes(message.data)


def test_another_encoding_is_read_by_rclpy():
    message = Image(header=Header(stamp=Time(sec=5, nanosec=7), frame_id='cam'), height=2,
                    width=3, encoding='rgb8', step=9, data=bytes(range(18)))
    seen = image_wire.read_image(big_endian_image(message))
    assert isinstance(seen, Image)  # not read here: rclpy's own message
    assert image_wire._fields(seen) == image_wire._fields(message)


@pytest.fixture(scope='module')
def rgb(data_path):
    return load_rgb(data_path / PHOTO)


@pytest.mark.parametrize('encoding, padding', [('bgr8', 0), ('rgb8', 0), ('bgr8', 5),
                                               ('mono16', 2)])
def test_a_view_converts_as_the_message_does(rgb, encoding, padding):
    """A real photo through both paths: the same pixels, row padding and 16 bits included."""
    pixels = {'bgr8': rgb[..., ::-1], 'rgb8': rgb,
              'mono16': cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.uint16) * 257}[encoding]
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    rows = np.pad(rows, ((0, 0), (0, padding)))
    message = Image(height=rgb.shape[0], width=rgb.shape[1], encoding=encoding,
                    step=rows.shape[1], data=rows.tobytes())
    view = image_wire.read_image(serialize_message(message))
    assert np.array_equal(image_to_rgb(view), image_to_rgb(message))


def test_a_compressed_view_decodes_as_the_message_does(rgb):
    ok, jpeg = cv2.imencode('.jpg', rgb[..., ::-1])
    assert ok
    message = CompressedImage(format='jpeg', data=jpeg.tobytes())
    view = image_wire.read_compressed_image(serialize_message(message))
    assert np.array_equal(compressed_to_rgb(view), compressed_to_rgb(message))


def test_the_stage_reads_a_frame_and_rejects_what_is_not_one():
    stage = DeserializeStage(image_wire.read_image)
    message = Image(header=Header(stamp=Time(sec=3), frame_id='front'), height=1, width=1,
                    encoding='rgb8', step=3, data=b'\1\2\3')
    frame = Frame(message=serialize_message(message), settings=None)
    stage(frame)
    assert frame.header.frame_id == 'front' and frame.stamp_s == 3.0
    for garbage in (b'', b'\0\1\0\0\7', b'\xff' * 64):
        with pytest.raises(FrameRejected, match='not a serialized Image'):
            stage(Frame(message=garbage, settings=None))
