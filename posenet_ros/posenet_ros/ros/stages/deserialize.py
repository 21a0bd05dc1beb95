"""
Stage: a frame taken as serialized bytes -> its Image or CompressedImage fields (`frame.message`).

The node takes camera frames raw where `image_wire.reads_like_middleware` holds, so the pixels
are not copied into a Python message (ros/image_wire.py). Bytes that are not a whole message
(a publisher writing bytes of its own) reject the frame with the reason.
"""
from __future__ import annotations

from typing import Callable

from posenet_ros.ros.pipeline import Frame, FrameRejected


class DeserializeStage:
    """Replaces `frame.message` (bytes) with `read(bytes)`, e.g. `image_wire.read_image`."""

    def __init__(self, read: Callable[[bytes], object]):
        self._read = read

    def __call__(self, frame: Frame) -> None:
        try:
            frame.message = self._read(frame.message)
        except ValueError as error:
            raise FrameRejected(str(error)) from error
