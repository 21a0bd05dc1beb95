"""Photos as posenet_estimate reads them: grey 16-bit, odd names, broken files, folders."""
from __future__ import annotations

import cv2
import numpy as np
from posenet_ros.engine.image_io import (expand_inputs, image_id, InputReadError,
                                         iter_frames, load_image_rgb)
import pytest

PHOTO = 'smoke/zidane.jpg'


@pytest.fixture(scope='module')
def grey16(data_path):
    """Return a real photo as 16-bit grey, its full range used (as an IR camera saves it)."""
    grey = cv2.cvtColor(cv2.imread(str(data_path / PHOTO)), cv2.COLOR_BGR2GRAY)
    return grey.astype(np.uint16) * 257  # 0..255 -> 0..65535


def test_a_16_bit_grey_photo_keeps_its_picture_as_the_node_reads_mono16(grey16, tmp_path):
    path = tmp_path / 'ir.png'
    assert cv2.imwrite(str(path), grey16)
    rgb = load_image_rgb(path)
    assert rgb.dtype == np.uint8 and rgb.shape == grey16.shape + (3,)
    expected = (grey16 >> 8).astype(np.uint8)  # the high byte, as image_conversion's mono16
    for channel in range(3):
        np.testing.assert_array_equal(rgb[..., channel], expected)


def test_a_name_of_unicode_digits_is_a_name_not_a_number(data_path, tmp_path):
    for name, expected in (('000000005802.jpg', 5802), ('².jpg', '²'), ('①.jpg', '①')):
        path = tmp_path / name
        path.write_bytes((data_path / PHOTO).read_bytes())
        assert image_id(path) == expected
        (frame,) = iter_frames([path])
        assert frame.id == expected


def test_a_png_broken_in_a_chunk_header_is_refused_and_skipped(data_path, tmp_path):
    """
    A PNG cut 5 bytes into a later IDAT chunk's header: Pillow raises SyntaxError there.

    It must be an InputReadError like any other unreadable photo, so a folder run skips it.
    """
    image = cv2.imread(str(data_path / PHOTO))
    whole = tmp_path / 'whole.png'
    assert cv2.imwrite(str(whole), image, [cv2.IMWRITE_PNG_COMPRESSION, 0])
    data = whole.read_bytes()
    second_idat = data.index(b'IDAT', data.index(b'IDAT') + 4) - 4  # its length field
    broken = tmp_path / 'broken.png'
    broken.write_bytes(data[:second_idat + 5])
    with pytest.raises(InputReadError, match='broken.png'):
        load_image_rgb(broken)
    skipped = []
    frames = list(iter_frames([broken, whole], on_error=skipped.append))
    assert [frame.source for frame in frames] == [whole] and len(skipped) == 1


def test_a_folder_lists_the_photos_pillow_can_open_not_what_it_can_only_write(
        data_path, tmp_path):
    (tmp_path / 'a.jpg').write_bytes((data_path / PHOTO).read_bytes())
    (tmp_path / 'notes.pdf').write_bytes(b'%PDF-1.4\n')  # Pillow writes PDF, never reads it
    assert [path.name for path in expand_inputs([tmp_path])] == ['a.jpg']
