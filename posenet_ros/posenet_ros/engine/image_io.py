"""
Reading photos and videos into RGB frames, decoded the way the reference outputs were.

Photos go through Pillow, `Image.open(path).convert('RGB')`: the same pixels the original's
reference runs were fed (no EXIF rotation, Pillow's JPEG decoder). Videos go through OpenCV,
one frame at a time. Unreadable inputs are reported, not fatal: the caller decides.
"""
from __future__ import annotations

from dataclasses import dataclass
import os
from pathlib import Path
from typing import Iterator

import numpy as np

from .image_header import check_decodable, ImageHeader, ImageHeaderError

VIDEO_EXTENSIONS = frozenset({
    '.avi', '.flv', '.m4v', '.mkv', '.mov', '.mp4', '.mpeg', '.mpg', '.ts', '.webm', '.wmv'})


class InputReadError(Exception):
    """An input that could not be read; the message names it and says why."""


@dataclass
class Frame:
    """One RGB uint8 (h, w, 3) image and where it came from."""

    id: int | str  # noqa: A003 - file stem (an int when all digits), or a video's frame index
    source: Path
    image: np.ndarray
    frame_index: int | None = None  # set for video frames


def image_id(path: str | os.PathLike) -> int | str:
    """Return a photo's id: its file stem, as an int when it is all digits (COCO file names)."""
    stem = Path(path).stem
    # isdecimal, not isdigit: '²' is a digit that int() refuses.
    return int(stem) if stem.isascii() and stem.isdecimal() else stem


def _image_extensions() -> frozenset[str]:
    """Return the extensions of the formats Pillow can open (not those it can only write)."""
    from PIL import Image
    return frozenset(ext.lower() for ext, name in Image.registered_extensions().items()
                     if name in Image.OPEN)


def _as_rgb(image) -> np.ndarray:
    """
    Return a Pillow image as RGB uint8.

    16-bit grey keeps its high byte, as the node reads mono16 frames (Pillow's own conversion
    clips every value above 255, turning such a photo white); 32-bit grey ('I', which Pillow
    also uses for 16-bit data) the same, saturated.
    """
    if image.mode in ('I;16', 'I;16B', 'I;16L', 'I'):
        grey = np.asarray(image).astype(np.int64)
        grey = np.clip(grey >> 8, 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    return np.asarray(image.convert('RGB'))


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_EXTENSIONS


def load_image_rgb(path: str | os.PathLike) -> np.ndarray:
    """
    Return a photo as an RGB uint8 (h, w, 3) array, or InputReadError.

    Its size is checked before it is decoded (`image_header.check_decodable`, counting 4 bytes
    a pixel), so a huge or bogus header is refused instead of filling the memory.
    """
    from PIL import Image, UnidentifiedImageError
    path = Path(path)
    try:
        with Image.open(path) as image:
            width, height = image.size
            try:
                check_decodable(ImageHeader(image.format or 'image', width, height, 4, 1))
            except ImageHeaderError as error:
                raise InputReadError(f'{path}: refused: {error}') from None
            return _as_rgb(image)
    except FileNotFoundError:
        raise InputReadError(f'{path}: no such file') from None
    except IsADirectoryError:
        raise InputReadError(f'{path}: is a folder') from None
    except UnidentifiedImageError:
        raise InputReadError(f'{path}: not an image Pillow can read') from None
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError, NotImplementedError,
            OverflowError, MemoryError) as error:  # SyntaxError: Pillow's 'broken PNG file'
        raise InputReadError(f'{path}: cannot decode: {error}') from None


def iter_video_rgb(path: str | os.PathLike) -> Iterator[tuple[int, np.ndarray]]:
    """(frame index, RGB uint8 frame) for every frame of a video, or InputReadError."""
    import cv2
    path = Path(path)
    if not path.is_file():
        raise InputReadError(f'{path}: no such file')
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputReadError(f'{path}: not a video OpenCV can open')
        index = 0
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            index += 1
        if index == 0:
            raise InputReadError(f'{path}: no frame could be decoded')
    finally:
        capture.release()


def expand_inputs(paths: list[str | os.PathLike]) -> list[Path]:
    """
    Files to read: each folder replaced by its photos and videos (sorted by name).

    Missing paths are kept, so that reading them reports the error in order.
    """
    extensions = _image_extensions() | VIDEO_EXTENSIONS
    files = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir()
                                if p.is_file() and p.suffix.lower() in extensions))
        else:
            files.append(path)
    return files


def iter_frames(files: list[Path], on_error=None) -> Iterator[Frame]:
    """
    Every frame of the given photos and videos, in order.

    An unreadable input is passed to `on_error(InputReadError)` (default: raise it) and skipped.
    A video that fails halfway keeps the frames read before the failure.
    """
    for path in files:
        try:
            if is_video(path):
                for index, image in iter_video_rgb(path):
                    yield Frame(id=index, source=path, image=image, frame_index=index)
            else:
                yield Frame(id=image_id(path), source=path, image=load_image_rgb(path))
        except InputReadError as error:
            if on_error is None:
                raise
            on_error(error)
