"""
Where the shared data is: weights, photos, the original's outputs and its Node.js runner.

Nothing here looks at where the package is installed: the shared folder is $POSENET_SHARED,
else `../shared` from the current folder (the layout of this project's checkout, run from its
root); weights are $POSENET_MODELS, else `<shared>/models/posenet`; the runner of the original
is $POSENET_TFJS_RUNNER, else `<shared>/tools/tfjs_ref`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

DEFAULT_SHARED = Path('..') / 'shared'


def shared_dir() -> Path:
    return Path(os.environ.get('POSENET_SHARED') or DEFAULT_SHARED).resolve()


def models_dir(shared: Path | None = None) -> Path:
    default = (shared or shared_dir()) / 'models' / 'posenet'
    return Path(os.environ.get('POSENET_MODELS') or default).resolve()


def tfjs_runner_dir() -> Path:
    """Return the read-only folder with the original's runner (package.json, its lock, ref.js)."""
    default = shared_dir() / 'tools' / 'tfjs_ref'
    return Path(os.environ.get('POSENET_TFJS_RUNNER') or default).resolve()


def coco_calibration_photos(shared: Path | None = None) -> list[Path]:
    """
    Return the photos of annotations.json that are not val photos, sorted by name.

    What int8 is calibrated on when it is scored on the val photos (docs/int8.md): never a
    photo it is scored on.
    """
    coco = (shared or shared_dir()) / 'data' / 'coco_kpts'
    val = {image['file_name'] for image in
           json.loads((coco / 'annotations_val2017.json').read_text())['images']}
    names = sorted(image['file_name'] for image in
                   json.loads((coco / 'annotations.json').read_text())['images']
                   if image['file_name'] not in val)
    return [coco / 'images' / name for name in names]
