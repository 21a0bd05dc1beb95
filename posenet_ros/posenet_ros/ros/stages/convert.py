"""Stage: the received image message -> RGB pixels (`frame.rgb`)."""
from __future__ import annotations

from typing import Callable

import numpy as np
from posenet_ros.ros.image_conversion import ImageConversionError
from posenet_ros.ros.pipeline import Frame, FrameRejected


class ConvertStage:
    """
    Converts with `convert(message) -> (H, W, 3) uint8 RGB`; any failure rejects the frame.

    Whatever a decoder raises on a malformed frame (ImageConversionError with the reason, or an
    OpenCV / Pillow error it did not foresee) is the input's fault: the frame is rejected, never
    a failure of the node.
    """

    def __init__(self, convert: Callable[[object], np.ndarray]):
        self._convert = convert

    def __call__(self, frame: Frame) -> None:
        try:
            frame.rgb = self._convert(frame.message)
        except ImageConversionError as error:
            raise FrameRejected(str(error)) from error
        except Exception as error:  # noqa: BLE001 - e.g. cv2.error on a corrupt image
            raise FrameRejected(
                f'could not be converted: {type(error).__name__}: {error}') from error
