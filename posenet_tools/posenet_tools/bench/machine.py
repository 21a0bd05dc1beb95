"""The machine a benchmark ran on, and its load: beside every figure, since both move them."""
from __future__ import annotations

import os
from pathlib import Path
import platform

import numpy as np


def machine_info() -> dict:
    cpu = platform.processor() or ''
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    info = {'cpu': cpu, 'cores': os.cpu_count(), 'python': platform.python_version(),
            'platform': platform.platform()}
    try:
        import tensorflow as tf
        info['tensorflow'] = tf.__version__
    except ImportError:
        pass
    info['numpy'] = np.__version__
    return info


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None
