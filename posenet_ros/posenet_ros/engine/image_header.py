"""
The size of a compressed image, read from its header before anything is decoded.

A decoder allocates the whole image the header declares before it reads a single pixel, so a
few hundred bytes can ask for gigabytes (OpenCV allows up to 2^30 pixels). `read_image_header`
reads width, height, channels and bytes per value without decoding; `check_decodable` refuses
what is larger than `MAX_IMAGE_SIDE` or `MAX_DECODED_BYTES`. JPEG (SOFn marker) and PNG (IHDR)
headers are parsed here, walking the markers the way libjpeg does, so a malformed APPn segment
or a bad-CRC ancillary chunk (which make Pillow give up) does not hide the size; the other
formats OpenCV decodes are read with Pillow when it identifies them as that same format.
Anything whose size cannot be read this way is refused: it is never handed to a decoder.
"""
from __future__ import annotations

from dataclasses import dataclass
import io
import re
import struct

# Largest width or height decoded. PoseNet downsizes to a few hundred pixels anyway.
MAX_IMAGE_SIDE = 8192
# Largest array a decoder may allocate for one image (width * height * channels * bytes per
# value, plus a progressive JPEG's coefficient buffer): an 8-bit RGBA image 8192 pixels square.
MAX_DECODED_BYTES = MAX_IMAGE_SIDE * MAX_IMAGE_SIDE * 4


class ImageHeaderError(ValueError):
    """An image whose size cannot be read, or that is too large to decode; says which."""


@dataclass(frozen=True)
class ImageHeader:
    """What a decoder will allocate for an image, as its header declares it."""

    format: str  # noqa: A003 - as Pillow's Image.format: 'JPEG', 'PNG', or Pillow's name
    width: int
    height: int
    channels: int         # values per pixel the decoder produces (at most)
    bytes_per_value: int  # 1, 2 (16-bit) or 4 (32-bit integer or float)
    working_bytes: int = 0  # extra buffers the decoder holds (progressive JPEG coefficients,
    #                         a TIFF tile, JPEG 2000's int32 and AVIF's YUV planes)

    @property
    def decoded_bytes(self) -> int:
        """Bytes the decoded image and the decoder's working buffers take."""
        return (self.width * self.height * self.channels * self.bytes_per_value
                + self.working_bytes)


_PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
# PNG colour type -> channels OpenCV returns (a palette may expand to RGBA).
_PNG_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}
# An encoder writes a few per megabyte (IDAT of 8-64 KiB); a bound keeps junk from costing time.
_PNG_MAX_CHUNKS = 100_000
# JPEG markers without a length field: TEM, RST0-7, SOI, EOI.
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8), 0xD8, 0xD9}
# SOF0-SOF15 except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_SOF = set(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_JPEG_PROGRESSIVE = {0xC2, 0xC6, 0xCA, 0xCE}
_JPEG_SOS = 0xDA
_JPEG_FILL = re.compile(rb'\xff+')  # a marker's 0xFF and the fill bytes before it
# Camera JPEGs have a few dozen segments before the frame header (APPn, DQT, DHT, COM); walking
# more would only let junk data cost CPU time.
_JPEG_MAX_MARKERS = 1000

# The other formats OpenCV decodes, by the signature its decoders look for, with the name
# Pillow gives them (None: no reader here, refused).
_OTHER_SIGNATURES: tuple[tuple[bytes, str, str | None], ...] = (
    (b'BM', 'BMP', 'BMP'),
    (b'GIF87a', 'GIF', 'GIF'),
    (b'GIF89a', 'GIF', 'GIF'),
    (b'II*\x00', 'TIFF', 'TIFF'),
    (b'MM\x00*', 'TIFF', 'TIFF'),
    (b'II+\x00', 'BigTIFF', None),
    (b'\x59\xa6\x6a\x95', 'Sun raster', 'SUN'),
    (b'\x00\x00\x00\x0cjP  \r\n\x87\n', 'JPEG 2000', 'JPEG2000'),
    (b'\xff\x4f\xff\x51', 'JPEG 2000', 'JPEG2000'),
    (b'#?RADIANCE', 'Radiance HDR', None),
    (b'#?RGBE', 'Radiance HDR', None),
    (b'PF', 'PFM', None),
    (b'Pf', 'PFM', None),
    (b'P7', 'PAM', None),
    (b'v/1\x01', 'OpenEXR', None),
    *((f'P{n}'.encode(), 'PNM', 'PPM') for n in range(1, 7)),
)
_READABLE = 'JPEG, PNG, WebP, BMP, GIF, TIFF, PNM, Sun raster, JPEG 2000, AVIF'


def read_image_header(data: bytes) -> ImageHeader:
    """Return a compressed image's header, or ImageHeaderError saying why it cannot be read."""
    data = bytes(data)
    if data.startswith(b'\xff\xd8'):
        return _jpeg_header(data)
    if data.startswith(_PNG_SIGNATURE):
        return _png_header(data)
    if data[:4] == b'RIFF' and data[8:12] == b'WEBP':
        return _pillow_header(data, 'WebP', 'WEBP')
    if data[4:8] == b'ftyp' and data[8:12] in (b'avif', b'avis'):
        return _pillow_header(data, 'AVIF', 'AVIF')
    for signature, name, pillow_format in _OTHER_SIGNATURES:
        if data.startswith(signature):
            if pillow_format is None:
                raise ImageHeaderError(
                    f'{name} images are not accepted (their size cannot be checked before '
                    f'decoding); send one of {_READABLE}')
            return _pillow_header(data, name, pillow_format)
    raise ImageHeaderError(f'not an image format that can be decoded here ({_READABLE})')


def check_decodable(header: ImageHeader) -> None:
    """Refuse, with the sizes, an image larger than MAX_IMAGE_SIDE or MAX_DECODED_BYTES."""
    what = f'{header.format} image of {header.width}x{header.height} pixels'
    if header.width <= 0 or header.height <= 0:
        raise ImageHeaderError(f'{what} has zero size')
    if header.width > MAX_IMAGE_SIDE or header.height > MAX_IMAGE_SIDE:
        raise ImageHeaderError(
            f'{what} is larger than MAX_IMAGE_SIDE = {MAX_IMAGE_SIDE} on a side')
    if header.decoded_bytes > MAX_DECODED_BYTES:
        raise ImageHeaderError(
            f'{what} ({header.channels} channel(s) of {8 * header.bytes_per_value} bits) would '
            f'take {_mib(header.decoded_bytes)} to decode, more than MAX_DECODED_BYTES = '
            f'{_mib(MAX_DECODED_BYTES)}')


def _mib(count: int) -> str:
    return f'{count / 2**20:.0f} MiB'


def _jpeg_header(data: bytes) -> ImageHeader:
    """Size from the first SOFn segment, markers walked as libjpeg's `next_marker` does."""
    position = 2
    end = len(data)
    for _ in range(_JPEG_MAX_MARKERS):
        # Bytes between segments that are not a marker are skipped (libjpeg warns and goes on),
        # and so are fill bytes (0xFF runs); searched in C, so junk costs no Python loop.
        position = data.find(b'\xff', position)
        if position >= 0:
            position = _JPEG_FILL.match(data, position).end()
        if position < 0 or position >= end:
            raise ImageHeaderError('JPEG data ends before its frame header (SOF marker)')
        marker = data[position]
        position += 1
        if marker == 0x00 or marker in _JPEG_STANDALONE:
            continue
        if marker == _JPEG_SOS:
            raise ImageHeaderError('JPEG scan starts before any frame header (SOF marker)')
        if position + 2 > end:
            raise ImageHeaderError('JPEG data ends inside a marker segment')
        (length,) = struct.unpack_from('>H', data, position)
        if length < 2:
            raise ImageHeaderError(f'JPEG marker 0x{marker:02X} has an invalid length {length}')
        if marker in _JPEG_SOF:
            if length < 8 or position + 8 > end:
                raise ImageHeaderError('JPEG frame header (SOF marker) is truncated')
            precision, height, width, components = struct.unpack_from('>BHHB', data, position + 2)
            if height == 0:
                raise ImageHeaderError(
                    'JPEG frame header declares height 0 (a DNL marker), which is not supported')
            if components == 0:
                raise ImageHeaderError('JPEG frame header declares no colour components')
            values = 2 if precision > 8 else 1
            # OpenCV returns grey or BGR (CMYK/YCCK converted); a progressive image also keeps
            # every DCT coefficient (2 bytes a value) of every component until the last scan.
            working = width * height * components * 2 if marker in _JPEG_PROGRESSIVE else 0
            return ImageHeader('JPEG', width, height, 1 if components == 1 else 3, values,
                               working)
        position += length
    raise ImageHeaderError(
        f'JPEG has more than {_JPEG_MAX_MARKERS} markers before its frame header (SOF marker)')


def _png_header(data: bytes) -> ImageHeader:
    """
    Size from the IHDR chunk, which must come first; every chunk's length is checked too.

    CRCs are not checked (libpng ignores a bad one on an ancillary chunk), but a chunk that
    claims more bytes than the data holds is refused: OpenCV allocates a buffer of the declared
    length before reading it.
    """
    if len(data) < 8 + 8 + 13:
        raise ImageHeaderError('PNG data ends before its IHDR header')
    length, kind = struct.unpack_from('>I4s', data, 8)
    if kind != b'IHDR' or length != 13:
        raise ImageHeaderError('PNG does not start with a valid IHDR header chunk')
    width, height, bit_depth, color_type = struct.unpack_from('>IIBB', data, 16)
    if color_type not in _PNG_CHANNELS:
        raise ImageHeaderError(f'PNG header has an invalid colour type {color_type}')
    position = 8
    for _ in range(_PNG_MAX_CHUNKS):
        if position + 8 > len(data):
            break
        length, kind = struct.unpack_from('>I4s', data, position)
        if length > len(data) - position - 12:
            raise ImageHeaderError(
                f'PNG chunk {kind!r} at byte {position} declares {length} bytes, more than the '
                f'{max(0, len(data) - position - 12)} left in the data')
        if kind == b'IEND':
            break
        position += 12 + length
    else:
        raise ImageHeaderError(f'PNG has more than {_PNG_MAX_CHUNKS} chunks')
    return ImageHeader('PNG', width, height, _PNG_CHANNELS[color_type],
                       2 if bit_depth == 16 else 1)


# Formats whose samples may be wider than the mode Pillow reports (Pillow reads 16-bit colour
# as 8-bit, OpenCV keeps 16 bits): counted as 16-bit RGBA at least.
_HIGH_BIT_DEPTH_FORMATS = ('TIFF', 'JPEG 2000', 'AVIF')


def _pillow_layout(mode: str, name: str) -> tuple[int, int]:
    """(channels, bytes per value) a decoder produces at most for an image Pillow calls `mode`."""
    if '64' in mode:
        return 1, 8
    if mode.startswith(('I;16', 'I;12')):
        values = 2
    elif mode.startswith(('I', 'F')):
        values = 4
    else:
        values = 2 if name in _HIGH_BIT_DEPTH_FORMATS else 1
    # Palette, 1-bit and grey images may be expanded: count every image as 4 channels.
    return 4, values


def _pillow_header(data: bytes, name: str, pillow_format: str) -> ImageHeader:
    from PIL import Image
    try:
        # Only the header is read (Image.open is lazy); no pixel is decoded here.
        with Image.open(io.BytesIO(data), formats=[pillow_format]) as image:
            width, height = image.size
            channels, values = _pillow_layout(image.mode, name)
            working = 0
            if name == 'TIFF':  # OpenCV allocates a whole tile, whatever the image's size
                tags = getattr(image, 'tag_v2', {})
                tile_width, tile_height = int(tags.get(322, 0)), int(tags.get(323, 0))
                working = tile_width * tile_height * channels * values
            elif name == 'JPEG 2000':  # OpenJPEG decodes every component to int32 first
                working = width * height * channels * 4
            elif name == 'AVIF':  # libavif decodes to YUV planes (up to 16 bits) first
                working = width * height * 3 * 2
    except Image.DecompressionBombError as error:
        raise ImageHeaderError(f'{name} image is too large: {error}') from None
    except Exception as error:  # noqa: BLE001 - any reader failure means: size unknown
        raise ImageHeaderError(
            f'{name} header cannot be read ({type(error).__name__}: {error})') from None
    return ImageHeader(name, width, height, channels, values, working)
