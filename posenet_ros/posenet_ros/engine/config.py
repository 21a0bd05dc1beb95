"""Per-frame estimation settings and their validation (shared by the CLI and the node)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

DECODINGS = ('single', 'multi')
OUTPUT_STRIDES = (8, 16, 32)
MAX_INPUT_SIDE = 4097


def max_output_stride(multiplier: float) -> int:
    """Largest output stride the MobileNetV1 backbone reaches for this width multiplier.

    0.50 and 0.75 stop downsampling at 16; 1.00 and 1.01 reach 32.
    """
    return 32 if multiplier >= 1.0 else 16


def is_valid_input_size(size: int, output_stride: int) -> bool:
    return size >= 1 and (size - 1) % output_stride == 0


def to_valid_input_size(size: int, output_stride: int) -> int:
    """Snap a requested input side to k * stride + 1, as tfjs `toValidInputResolution` does."""
    if is_valid_input_size(size, output_stride):
        return size
    return max(1, math.floor(size / output_stride)) * output_stride + 1


@dataclass(frozen=True)
class EstimateConfig:
    """How to run and decode one frame. Every field can change between frames."""

    output_stride: int = 16
    input_height: int = 257
    input_width: int = 257
    decoding: str = 'multi'
    max_pose_detections: int = 5
    score_threshold: float = 0.5
    nms_radius: float = 20.0
    flip_horizontal: bool = False

    def check(self, multiplier: float | None = None) -> None:
        """Raise ValueError with the reason if any field is out of range."""
        if self.output_stride not in OUTPUT_STRIDES:
            raise ValueError(f'output_stride must be one of {OUTPUT_STRIDES}, got {self.output_stride}')
        if multiplier is not None and self.output_stride > max_output_stride(multiplier):
            raise ValueError(
                f'output_stride {self.output_stride} needs multiplier 1.00 or 1.01; MobileNetV1 '
                f'{multiplier:.2f} reaches at most {max_output_stride(multiplier)}')
        for name in ('input_height', 'input_width'):
            value = getattr(self, name)
            if not 1 <= value <= MAX_INPUT_SIDE:
                raise ValueError(f'{name} must be between 1 and {MAX_INPUT_SIDE} pixels, got {value}')
        if self.decoding not in DECODINGS:
            raise ValueError(f"decoding must be 'single' or 'multi', got {self.decoding!r}")
        if self.max_pose_detections < 1:
            raise ValueError(f'max_pose_detections must be at least 1, got {self.max_pose_detections}')
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f'score_threshold must be between 0 and 1, got {self.score_threshold}')
        if not (self.nms_radius > 0.0 and math.isfinite(self.nms_radius)):
            raise ValueError(f'nms_radius must be a positive number of pixels, got {self.nms_radius}')

    def snapped(self) -> 'EstimateConfig':
        """The same settings with the input size snapped to what the network accepts."""
        return dataclasses.replace(
            self,
            input_height=to_valid_input_size(self.input_height, self.output_stride),
            input_width=to_valid_input_size(self.input_width, self.output_stride))
