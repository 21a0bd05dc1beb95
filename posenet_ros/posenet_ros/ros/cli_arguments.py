"""Argument types the ROS programs' command lines share (no ROS imported: see demo_options)."""
from __future__ import annotations

import argparse


def positive_float(text: str) -> float:
    """Return the number, or an argparse error for zero, a negative or NaN."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f'must be positive, got {text}')
    return value
