"""
Hostile compressed images, built from real photos and from synthetic bytes.

Used by the fuzz test of image conversion, and as a program that prints the peak memory of
decoding each kind (one fresh process per input, so every figure is that input's own):

    python posenet_ros/test/hostile_images.py [--photo PATH] [--before OLD_MODULE.py]

`--before` decodes with another copy of image_conversion.py (e.g. the one before a change,
`git show REV:posenet_ros/posenet_ros/ros/image_conversion.py > old.py`).
"""
from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np


def png_chunk(kind: bytes, payload: bytes, *, good_crc: bool = True) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    if not good_crc:
        crc ^= 0xDEADBEEF
    return struct.pack('>I', len(payload)) + kind + payload + struct.pack('>I', crc)


def png_bomb(width: int, height: int, *, channels: int = 3, bad_crc_chunk: bool = True) -> bytes:
    """
    Return a valid PNG of zero pixels (small: zlib squeezes zero rows) declaring width x height.

    With `bad_crc_chunk`, a tEXt chunk with a wrong CRC comes first: Pillow refuses the file,
    libpng (OpenCV) ignores the ancillary chunk and decodes it.
    """
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    header = struct.pack('>IIBBBBB', width, height, 8, color_type, 0, 0, 0)
    row = bytes(1 + width * channels)  # filter byte 0, then zeros
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(row) for _ in range(height)]
    parts.append(compressor.flush())
    chunks = [png_chunk(b'IHDR', header)]
    if bad_crc_chunk:
        chunks.append(png_chunk(b'tEXt', b'Comment\x00hostile', good_crc=False))
    chunks += [png_chunk(b'IDAT', b''.join(parts)), png_chunk(b'IEND', b'')]
    return b'\x89PNG\r\n\x1a\n' + b''.join(chunks)


def with_chunk_length(png: bytes, length: int) -> bytes:
    """
    Return a PNG whose second chunk (after IHDR) declares `length` bytes.

    OpenCV allocates them.
    """
    return png[:33] + struct.pack('>I', length) + png[37:]


def hdr_bomb(width: int, height: int) -> bytes:
    """
    Return a Radiance HDR declaring width x height pixels.

    New RLE scanlines of one grey value.
    """
    head = f'#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {height} +X {width}\n'.encode()

    def runs(value: int) -> bytes:
        counts = [127] * (width // 127) + ([width % 127] if width % 127 else [])
        return b''.join(bytes((128 + count, value)) for count in counts)

    line = bytes((2, 2, width >> 8, width & 0xFF)) + runs(100) * 3 + runs(128)  # exponent last
    return head + line * height


def tiff_with_tiles(tile_width: int, tile_height: int, width: int = 16, height: int = 16) -> bytes:
    """
    Return a small 8-bit grey TIFF in one tile of the given size.

    OpenCV allocates the whole tile.
    """
    tags = [(256, 4, width), (257, 4, height), (258, 3, 8), (259, 3, 1), (262, 3, 1),
            (277, 3, 1), (322, 4, tile_width), (323, 4, tile_height), (324, 4, 0),
            (325, 4, width * height)]
    data_offset = 8 + 2 + len(tags) * 12 + 4
    out = b'II*\x00' + struct.pack('<IH', 8, len(tags))
    for tag, kind, value in tags:
        value = data_offset if tag == 324 else value
        packed = struct.pack('<HH', value, 0) if kind == 3 else struct.pack('<I', value)
        out += struct.pack('<HHI', tag, kind, 1) + packed
    return out + struct.pack('<I', 0) + bytes(width * height)


def jpeg_of(rgb: np.ndarray, quality: int = 90, *, progressive: bool = False) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    if progressive:
        params += [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]
    ok, data = cv2.imencode('.jpg', np.ascontiguousarray(rgb[..., ::-1]), params)
    assert ok
    return data.tobytes()


def encode(rgb: np.ndarray, extension: str) -> bytes:
    ok, data = cv2.imencode(extension, np.ascontiguousarray(rgb[..., ::-1]))
    assert ok, extension
    return data.tobytes()


def with_malformed_adobe(jpeg: bytes) -> bytes:
    """
    Return a JPEG with an Adobe APP14 segment too short for its fields.

    Pillow gives up on it.
    """
    return jpeg[:2] + b'\xff\xee\x00\x07Adobe' + jpeg[2:]


def with_declared_size(data: bytes, width: int, height: int) -> bytes:
    """
    Return a JPEG or PNG whose header declares another size.

    The pixel data is left as it is.
    """
    if data.startswith(b'\x89PNG'):
        header = struct.pack('>II', width, height) + data[24:29]
        return data[:8] + png_chunk(b'IHDR', header) + data[33:]
    position = 2
    while position < len(data):
        marker, length = data[position + 1], struct.unpack_from('>H', data, position + 2)[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            start = position + 5
            return data[:start] + struct.pack('>HH', height, width) + data[start + 4:]
        position += 2 + length
    raise ValueError('no frame header found')


def _peak_rss_of(kind: str, module_path: str | None, photo: str) -> tuple[int, int, int, str]:
    """Run one decode in a fresh process: (input bytes, RSS before and peak in KiB, outcome)."""
    import subprocess
    import sys
    code = f"""
import importlib.util, resource, sys
sys.path.insert(0, {str(__file__.rsplit('/', 1)[0])!r})
import numpy as np, cv2
import hostile_images as h
from sensor_msgs.msg import CompressedImage
if {module_path!r}:
    spec = importlib.util.spec_from_file_location('conversion', {module_path!r})
    conversion = importlib.util.module_from_spec(spec); sys.modules['conversion'] = conversion
    spec.loader.exec_module(conversion)
else:
    from posenet_ros.ros import image_conversion as conversion
rgb = cv2.cvtColor(cv2.imread({photo!r}), cv2.COLOR_BGR2RGB)
data = {{
    'png_bomb_16384x16384_rgb_bad_crc': lambda: h.png_bomb(16384, 16384),
    'hdr_bomb_12000x12000': lambda: h.hdr_bomb(12000, 12000),
    'jpeg_adobe_app14_declared_8000x8000': lambda: h.with_malformed_adobe(
        h.with_declared_size(h.jpeg_of(rgb), 8000, 8000)),
    'jpeg_photo': lambda: h.jpeg_of(rgb),
    'tiff_16x16_in_one_16384x16368_tile': lambda: h.tiff_with_tiles(16384, 16368),
    'png_64x48_chunk_declaring_1.7GB': lambda: h.with_chunk_length(h.png_bomb(64, 48), 0x6898000F),
}}[{kind!r}]()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    out = conversion.compressed_to_rgb(CompressedImage(format='x', data=data))
    outcome = f'decoded {{out.shape}}'
except Exception as error:
    outcome = f'{{type(error).__name__}}: {{str(error)[:150]}}'
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(len(data), before, peak, outcome.replace(chr(10), ' '))
"""
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=600)
    if result.returncode:
        return -1, -1, -1, result.stderr.strip().splitlines()[-1]
    size, before, peak, outcome = result.stdout.split(' ', 3)
    return int(size), int(before), int(peak), outcome.strip()


def main() -> None:
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--photo', default='../shared/data/smoke/zidane.jpg')
    parser.add_argument('--before', default=None, help='image_conversion.py to use instead')
    args = parser.parse_args()
    for kind in ('jpeg_photo', 'png_bomb_16384x16384_rgb_bad_crc', 'hdr_bomb_12000x12000',
                 'jpeg_adobe_app14_declared_8000x8000', 'tiff_16x16_in_one_16384x16368_tile',
                 'png_64x48_chunk_declaring_1.7GB'):
        size, before, peak, outcome = _peak_rss_of(kind, args.before, args.photo)
        print(f'{kind}: {size / 1024:.0f} KiB in, peak RSS {before / 1024:.0f} MiB before '
              f'decoding -> {peak / 1024:.0f} MiB; {outcome}', flush=True)


if __name__ == '__main__':
    main()
