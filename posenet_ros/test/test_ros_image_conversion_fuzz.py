"""
Fuzzing image conversion: whatever bytes come, the only exception is ImageConversionError.

Whatever bytes a camera or a caller sends, the only exception is ImageConversionError, and
memory stays bounded.

The corpus is built here from real photos (read by path from ../shared/data, encoded in every
format accepted) and from synthetic bytes for the classes that broke the node before: a Radiance
HDR header, a PNG with a bad-CRC ancillary chunk, a JPEG with a malformed Adobe APP14 segment,
headers declaring huge sizes, random bytes. Hypothesis then truncates, overwrites and inserts
bytes. Raw Image messages get any width, height, step, encoding and data length. Bounded for CI
(about 20 s).
"""
from __future__ import annotations

import resource

import cv2
import hostile_images as hostile
from hypothesis import given, HealthCheck, settings
from hypothesis import strategies as st
import numpy as np
from posenet_ros.ros.image_conversion import (compressed_to_rgb, image_to_rgb,
                                              ImageConversionError, MAX_DECODED_BYTES,
                                              MAX_IMAGE_SIDE, SUPPORTED_ENCODINGS)
import pytest
from sensor_msgs.msg import CompressedImage, Image

PHOTOS = ('smoke/zidane.jpg', 'smoke/bus.jpg', 'coco_kpts/images/000000368212.jpg')
FUZZ_SETTINGS = settings(max_examples=4000, deadline=None,
                         suppress_health_check=[HealthCheck.too_slow,
                                                HealthCheck.function_scoped_fixture])
# What one accepted input may hold at most: the decoded image and its RGB copy.
MEMORY_BOUND_KIB = (MAX_DECODED_BYTES + MAX_IMAGE_SIDE * MAX_IMAGE_SIDE * 3) // 1024 + 64 * 1024


def small(rgb: np.ndarray, side: int = 96) -> np.ndarray:
    scale = side / max(rgb.shape[:2])
    size = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)


@pytest.fixture(scope='module')
def corpus(data_path) -> dict[str, bytes]:
    """Seeds by name: real photos in every accepted format, and the hostile classes."""
    seeds = {}
    for index, relative in enumerate(PHOTOS):
        full = cv2.cvtColor(cv2.imread(str(data_path / relative)), cv2.COLOR_BGR2RGB)
        rgb = small(full)
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        jpeg = hostile.jpeg_of(rgb)
        seeds[f'{index}.jpg'] = jpeg
        seeds[f'{index}.progressive.jpg'] = hostile.jpeg_of(rgb, 75, progressive=True)
        seeds[f'{index}.png'] = hostile.encode(rgb, '.png')
        gray16 = gray.astype(np.uint16) * 257
        seeds[f'{index}.gray16.png'] = cv2.imencode('.png', gray16)[1].tobytes()
        for extension in ('.webp', '.bmp', '.tif', '.gif', '.ppm', '.jp2', '.ras'):
            seeds[f'{index}{extension}'] = hostile.encode(rgb, extension)
        seeds[f'{index}.adobe.jpg'] = hostile.with_malformed_adobe(jpeg)
        seeds[f'{index}.huge.jpg'] = hostile.with_declared_size(jpeg, 65535, 65535)
        seeds[f'{index}.wide.png'] = hostile.with_declared_size(seeds[f'{index}.png'], 8193, 4)
        seeds[f'{index}.camera.jpg'] = (data_path / relative).read_bytes()[:200_000]
    seeds['bad_crc_chunk.png'] = hostile.png_bomb(64, 48)  # Pillow refuses it, libpng decodes it
    seeds['bomb_bad_crc.png'] = hostile.png_bomb(9000, 9000, channels=1)
    seeds['bomb.hdr'] = hostile.hdr_bomb(9000, 40)
    seeds['pfm'] = b'PF\n30000 30000\n-1.0\n' + bytes(64)
    seeds['huge_tiles.tif'] = hostile.tiff_with_tiles(16384, 16368)
    seeds['tiles.tif'] = hostile.tiff_with_tiles(16, 16)
    seeds['random'] = np.random.default_rng(3).integers(0, 256, 4096, np.uint8).tobytes()
    seeds['many_markers.jpg'] = b'\xff\xd8' + b'\xff\x00' * 200_000 + seeds['0.jpg'][2:]
    small_png = seeds['bad_crc_chunk.png']
    seeds['many_chunks.png'] = (small_png[:33] + hostile.png_chunk(b'tEXt', b'') * 200_000
                                + small_png[33:])
    return seeds


@st.composite
def mutated(draw, corpus: dict[str, bytes]) -> bytes:
    data = bytearray(corpus[draw(st.sampled_from(sorted(corpus)))])
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(('truncate', 'overwrite', 'insert', 'header', 'number')))
        if not data:
            break
        position = draw(st.integers(0, len(data) - 1))
        if kind == 'truncate':
            del data[position:]
        elif kind == 'overwrite':
            chunk = draw(st.binary(min_size=1, max_size=8))
            data[position:position + len(chunk)] = chunk
        elif kind == 'insert':
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == 'header':  # the first bytes, where every size is declared
            at = draw(st.integers(0, min(len(data), 200) - 1))
            data[at] = draw(st.integers(0, 255))
        else:  # a length or size field made large
            at = draw(st.integers(0, min(len(data), 200) - 1))
            value = draw(st.sampled_from((0xFFFF, 0x7FFF, 0x10000, 0x7FFFFFFF, 0xFFFFFFFF,
                                          0x10000000)))
            width = 2 if value <= 0xFFFF else 4
            data[at:at + width] = value.to_bytes(width, draw(st.sampled_from(('big', 'little'))))
    return bytes(data)


def _peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def test_compressed_images_raise_only_image_conversion_error(corpus):
    start_kib = _peak_kib()
    outcomes = {'decoded': 0, 'refused': 0}
    # The input whose decoding raised the peak most, so that a failure names it (the peak may
    # also grow outside any decoding: another thread of this process).
    worst = {'kib': 0, 'input': 'none'}

    def convert(data: bytes, fmt: str) -> np.ndarray:
        before = _peak_kib()
        try:
            return compressed_to_rgb(CompressedImage(format=fmt, data=data))
        finally:
            grown = _peak_kib() - before
            if grown > worst['kib']:
                worst.update(kib=grown,
                             input=f'{len(data)} bytes, format {fmt!r}, starting {data[:32]!r}')

    @FUZZ_SETTINGS
    @given(data=mutated(corpus), fmt=st.sampled_from(('jpeg', 'png', '', 'rgb8; jpeg')))
    def check(data, fmt):
        try:
            rgb = convert(data, fmt)
        except ImageConversionError as error:
            assert str(error), 'an ImageConversionError must say why'
            outcomes['refused'] += 1
            return
        assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
        assert max(rgb.shape[:2]) <= MAX_IMAGE_SIDE
        outcomes['decoded'] += 1

    check()
    grown_kib = _peak_kib() - start_kib
    assert grown_kib < MEMORY_BOUND_KIB, (
        f'peak RSS grew by {grown_kib / 1024:.0f} MiB; by {worst["kib"] / 1024:.0f} MiB in one '
        f'decoding, of {worst["input"]}')
    assert outcomes['decoded'] and outcomes['refused'], outcomes


@pytest.mark.parametrize('name, cause', [
    ('bomb_bad_crc.png', r'refused: PNG image of 9000x9000 pixels is larger than MAX_IMAGE_SIDE'),
    ('bomb.hdr', r'refused: Radiance HDR images are not accepted'),
    ('pfm', r'refused: PFM images are not accepted'),
    ('0.huge.jpg', r'refused: JPEG image of 65535x65535 pixels'),
    ('0.wide.png', r'refused: PNG image of 8193x4 pixels'),
    ('random', r'refused: not an image format'),
    ('huge_tiles.tif', r'refused: TIFF image of 16x16 pixels .* would take 2046 MiB to decode'),
    ('many_markers.jpg', r'refused: JPEG has more than 1000 markers before its frame header'),
    ('many_chunks.png', r'refused: PNG has more than 100000 chunks'),
])
def test_hostile_classes_are_refused_before_decoding(corpus, name, cause):
    with pytest.raises(ImageConversionError, match=cause):
        compressed_to_rgb(CompressedImage(format='x', data=corpus[name]))


@pytest.mark.parametrize('name', ['bad_crc_chunk.png', '0.adobe.jpg', '1.adobe.jpg'])
def test_what_pillow_cannot_read_but_opencv_can_still_decodes(corpus, name):
    """A bad-CRC ancillary chunk or a malformed APP14 segment does not hide a valid image."""
    rgb = compressed_to_rgb(CompressedImage(format='x', data=corpus[name]))
    assert rgb.ndim == 3 and rgb.shape[2] == 3


ENCODINGS = st.sampled_from(SUPPORTED_ENCODINGS + ('', 'rgb32f', '8UC3', 'RGB8 ', 'jpeg'))
SIDES = st.one_of(st.integers(0, 40), st.sampled_from((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE + 1,
                                                      2**31, 2**32 - 1)))


@FUZZ_SETTINGS
@given(encoding=ENCODINGS, width=SIDES, height=SIDES,
       step=st.one_of(st.integers(0, 200), st.just(2**32 - 1)),
       size=st.integers(0, 6000), big_endian=st.booleans(), seed=st.integers(0, 2**16))
def test_raw_images_raise_only_image_conversion_error(encoding, width, height, step, size,
                                                      big_endian, seed):
    data = np.random.default_rng(seed).integers(0, 256, size, np.uint8).tobytes()
    msg = Image(height=height, width=width, encoding=encoding, step=step,
                is_bigendian=int(big_endian), data=data)
    try:
        rgb = image_to_rgb(msg)
    except ImageConversionError as error:
        assert str(error)
        return
    assert rgb.shape == (height, width, 3) and rgb.dtype == np.uint8
