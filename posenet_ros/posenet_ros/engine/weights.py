"""
Read Google's published PoseNet weights into one canonical name -> float32 array map.

Two formats exist and both hold the same MobileNetV1 network with BatchNorm already folded
into the biases:

* tfjs graph model (posenet 2.x): `model-stride16.json` (or `model-stride8.json`, same weights)
  plus `group1-shard*.bin`. The JSON's `weightsManifest` lists the tensors in byte order across
  the concatenated shards; values are float32 or affine-quantized uint8/uint16
  (`value = q * scale + min`).
* old tfjs checkpoint (posenet 0.x/1.x): `manifest.json` naming one raw little-endian float32
  file per variable.

Canonical names are `<layer>/weights` and `<layer>/bias` for every layer in `LAYER_NAMES`.
Nothing here imports TensorFlow, so loading and checking weights stays cheap.
"""
from __future__ import annotations

from dataclasses import dataclass
import json
import math
from pathlib import Path
import re

import numpy as np

NUM_SEPARABLE_BLOCKS = 13
# Output channels of every conv of PoseNet's MobileNetV1 1.0: Conv2d_0, then blocks 1..13. The
# 0.50 and 0.75 variants drop the stride-2 block 12, and with it the doubling to 1024.
BASE_CHANNELS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
BASE_CHANNELS_WITHOUT_BLOCK_12_DOWNSAMPLING = BASE_CHANNELS[:12] + (512, 512)
# The four 1x1 output heads PoseNet uses, with their channel counts (the *_1 heads of the old
# checkpoints are an unused intermediate prediction and are ignored).
HEADS = (('heatmap_2', 17), ('offset_2', 34), ('displacement_fwd_2', 32),
         ('displacement_bwd_2', 32))
HEAD_NAMES = tuple(name for name, _ in HEADS)
LAYER_NAMES = (('Conv2d_0',)
               + tuple(f'Conv2d_{block}_{part}' for block in range(1, NUM_SEPARABLE_BLOCKS + 1)
                       for part in ('depthwise', 'pointwise'))
               + HEAD_NAMES)
CANONICAL_NAMES = tuple(f'{layer}/{kind}' for layer in LAYER_NAMES for kind in ('weights', 'bias'))

MULTIPLIERS = (0.5, 0.75, 1.0, 1.01)
# Conv2d_0 filter count -> width multiplier (1.01 has the shapes of 1.0).
_MULTIPLIER_BY_FIRST_FILTERS = {16: 0.5, 24: 0.75, 32: 1.0}

GRAPH_MODEL_JSONS = ('model-stride16.json', 'model-stride8.json', 'model.json')
CHECKPOINT_MANIFEST = 'manifest.json'

# A published tensor name, e.g. 'MobilenetV1/MobilenetV1/Conv2d_3_depthwise/depthwise_bias'
# (graph model; the 1.0 graph has a single prefix) or 'MobilenetV1/offset_2/biases' (checkpoint).
_PUBLISHED_NAME = re.compile(
    r'^(?:MobilenetV1/)+(?P<layer>[A-Za-z0-9_]+)/'
    r'(?P<kind>weights|depthwise_weights|biases|Conv2D_bias|depthwise_bias)$')
_KIND = {'weights': 'weights', 'depthwise_weights': 'weights',
         'biases': 'bias', 'Conv2D_bias': 'bias', 'depthwise_bias': 'bias'}
_QUANTIZED_DTYPES = {'uint8': np.dtype('<u1'), 'uint16': np.dtype('<u2'),
                     'float16': np.dtype('<f2')}
_PLAIN_DTYPES = {'float32': np.dtype('<f4'), 'int32': np.dtype('<i4')}


class WeightsError(ValueError):
    """The weight files are missing, truncated or do not describe PoseNet's MobileNetV1."""


@dataclass
class ModelWeights:
    """
    Every tensor PoseNet needs, by canonical name, plus what the shapes say about the model.

    path: the folder of the files; descriptor: the graph-model JSON or checkpoint manifest
    read, which names the weights when a folder holds more than one (the cache key and a child
    process's conversion must use these, not the folder's default).
    """

    tensors: dict[str, np.ndarray]
    multiplier: float
    descriptor: Path
    format: str  # noqa: A003 - public field, 'graph-model' or 'checkpoint'

    @property
    def path(self) -> Path:
        return self.descriptor.parent

    def __getitem__(self, name: str) -> np.ndarray:
        return self.tensors[name]


def channels(multiplier: float) -> tuple[int, ...]:
    """Output channels of Conv2d_0 and blocks 1..13 for a width multiplier (1.01 counts as 1.0)."""
    if multiplier >= 1.0:
        return BASE_CHANNELS
    return tuple(int(c * multiplier) for c in BASE_CHANNELS_WITHOUT_BLOCK_12_DOWNSAMPLING)


def expected_shapes(multiplier: float) -> dict[str, tuple[int, ...]]:
    """
    Return the shape of every canonical tensor for a width multiplier.

    Filters are HWIO, depthwise HWC1.
    """
    ch = channels(multiplier)
    shapes = {'Conv2d_0/weights': (3, 3, 3, ch[0]), 'Conv2d_0/bias': (ch[0],)}
    for block in range(1, NUM_SEPARABLE_BLOCKS + 1):
        c_in, c_out = ch[block - 1], ch[block]
        shapes[f'Conv2d_{block}_depthwise/weights'] = (3, 3, c_in, 1)
        shapes[f'Conv2d_{block}_depthwise/bias'] = (c_in,)
        shapes[f'Conv2d_{block}_pointwise/weights'] = (1, 1, c_in, c_out)
        shapes[f'Conv2d_{block}_pointwise/bias'] = (c_out,)
    for head, outputs in HEADS:
        shapes[f'{head}/weights'] = (1, 1, ch[-1], outputs)
        shapes[f'{head}/bias'] = (outputs,)
    return shapes


def canonical_name(published: str) -> str | None:
    """Map a published tensor name to its canonical name, or None if PoseNet does not use it."""
    match = _PUBLISHED_NAME.match(published)
    if match is None or match['layer'] not in LAYER_NAMES:
        return None
    return f"{match['layer']}/{_KIND[match['kind']]}"


def find_weights_file(path: Path) -> Path:
    """Return the file describing the weights in a folder: graph-model JSON or checkpoint list."""
    for name in GRAPH_MODEL_JSONS + (CHECKPOINT_MANIFEST,):
        if (path / name).is_file():
            return path / name
    raise WeightsError(
        f'{path} holds no PoseNet weights: expected one of '
        f'{", ".join(GRAPH_MODEL_JSONS + (CHECKPOINT_MANIFEST,))} in it')


def load_weights(path: str | Path, multiplier: float | None = None) -> ModelWeights:
    """
    Load a weight folder (or a graph-model JSON / checkpoint manifest file) of either format.

    `multiplier` is only needed to tell 1.01 from 1.00 (same shapes) when the folder name does
    not say `101`; if given, it must agree with the shapes. Raises WeightsError (a ValueError)
    naming the file at fault.
    """
    path = Path(path).expanduser()
    if multiplier is not None and multiplier not in MULTIPLIERS:
        raise WeightsError(f'multiplier must be one of {MULTIPLIERS}, got {multiplier}')
    if path.is_dir():
        descriptor = find_weights_file(path)
    elif path.is_file():
        descriptor = path
    else:
        raise WeightsError(f'PoseNet weights not found: {path} does not exist')
    document = _read_json(descriptor)
    if descriptor.name == CHECKPOINT_MANIFEST or 'weightsManifest' not in document:
        tensors, fmt = _read_checkpoint(descriptor, document), 'checkpoint'
    else:
        tensors, fmt = _read_graph_model(descriptor, document), 'graph-model'
    folder = descriptor.parent
    resolved = _check_and_infer_multiplier(tensors, descriptor, multiplier, folder.name)
    return ModelWeights(tensors=tensors, multiplier=resolved, descriptor=descriptor,
                        format=fmt)


def _read_json(path: Path) -> dict:
    try:
        with open(path, encoding='utf-8') as stream:
            document = json.load(stream)
    except OSError as error:
        raise WeightsError(f'cannot read {path}: {error.strerror or error}') from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise WeightsError(f'{path} is not valid JSON: {error}') from error
    if not isinstance(document, dict):
        raise WeightsError(f'{path} is not a PoseNet weights manifest (expected a JSON object)')
    return document


def _plain_file_name(name, descriptor: Path) -> str:
    """Return a file name from a manifest, refused if it could point outside the weight folder."""
    if not isinstance(name, str) or not name or Path(name).name != name or name in ('.', '..'):
        raise WeightsError(f'{descriptor} names an invalid weight file {name!r}')
    return name


def _read_graph_model(descriptor: Path, document: dict) -> dict[str, np.ndarray]:
    groups = document.get('weightsManifest')
    if not isinstance(groups, list) or not groups:
        raise WeightsError(f'{descriptor} has no weightsManifest groups')
    tensors: dict[str, np.ndarray] = {}
    for group in groups:
        try:
            shard_names = [_plain_file_name(p, descriptor) for p in group['paths']]
            specs = list(group['weights'])
        except (KeyError, TypeError) as error:
            raise WeightsError(
                f'{descriptor}: malformed weightsManifest group ({error})') from error
        shards = [descriptor.parent / name for name in shard_names]
        blob = _read_shards(shards, descriptor)
        needed = sum(_graph_spec_nbytes(spec, descriptor) for spec in specs)
        if needed != len(blob):
            raise WeightsError(
                f'{", ".join(str(s) for s in shards)}: {len(blob)} bytes, but {descriptor.name} '
                f'describes {needed} bytes of tensors (truncated or wrong files?)')
        offset = 0
        for spec in specs:
            nbytes = _graph_spec_nbytes(spec, descriptor)
            name = canonical_name(spec['name'])
            if name is not None:
                if name in tensors:
                    raise WeightsError(f'{descriptor} lists {spec["name"]!r} twice')
                tensors[name] = _decode_graph_tensor(blob[offset:offset + nbytes], spec)
            offset += nbytes
    return tensors


def listed_files(descriptor: Path, document: dict) -> tuple[list[str], int]:
    """
    Files a graph-model JSON or checkpoint manifest refers to, and how many bytes they hold.

    Used to fetch a model's files before they can be loaded; names are checked to be plain file
    names in the same folder.
    """
    if 'weightsManifest' in document:
        names, total = [], 0
        for group in document['weightsManifest']:
            try:
                names += [_plain_file_name(p, descriptor) for p in group['paths']]
                total += sum(_graph_spec_nbytes(spec, descriptor) for spec in group['weights'])
            except (KeyError, TypeError) as error:
                raise WeightsError(
                    f'{descriptor}: malformed weightsManifest group ({error})') from error
        return names, total
    names, total = [], 0
    for published, entry in document.items():
        try:
            names.append(_plain_file_name(entry['filename'], descriptor))
            total += 4 * math.prod(int(d) for d in entry['shape'])
        except (KeyError, TypeError, ValueError) as error:
            raise WeightsError(
                f'{descriptor}: malformed entry for {published!r} ({error})') from error
    return names, total


def _graph_spec_nbytes(spec: dict, descriptor: Path) -> int:
    try:
        count = math.prod(int(d) for d in spec['shape'])
        quantization = spec.get('quantization')
        if quantization:
            itemsize = _QUANTIZED_DTYPES[quantization['dtype']].itemsize
        else:
            itemsize = _PLAIN_DTYPES[spec['dtype']].itemsize
    except (KeyError, TypeError, ValueError) as error:
        raise WeightsError(
            f'{descriptor}: unsupported or malformed tensor entry {spec!r} ({error})') from error
    return count * itemsize


def _decode_graph_tensor(raw: bytes, spec: dict) -> np.ndarray:
    shape = tuple(int(d) for d in spec['shape'])
    quantization = spec.get('quantization')
    if not quantization:
        return (np.frombuffer(raw, dtype=_PLAIN_DTYPES[spec['dtype']])
                .astype(np.float32).reshape(shape))
    stored = np.frombuffer(raw, dtype=_QUANTIZED_DTYPES[quantization['dtype']])
    if quantization['dtype'] == 'float16':
        return stored.astype(np.float32).reshape(shape)
    # Same arithmetic as tfjs-core: in float64 (JavaScript numbers), then stored as float32.
    values = stored.astype(np.float64) * float(quantization['scale']) + float(quantization['min'])
    return values.astype(np.float32).reshape(shape)


def _read_shards(shards: list[Path], descriptor: Path) -> bytes:
    parts = []
    for shard in shards:
        try:
            parts.append(shard.read_bytes())
        except FileNotFoundError as error:
            raise WeightsError(
                f'weight shard {shard} is missing (listed in {descriptor})') from error
        except OSError as error:
            raise WeightsError(
                f'cannot read weight shard {shard}: {error.strerror or error}') from error
    return b''.join(parts)


def _read_checkpoint(descriptor: Path, document: dict) -> dict[str, np.ndarray]:
    tensors: dict[str, np.ndarray] = {}
    for published, entry in document.items():
        name = canonical_name(published)
        if name is None:
            continue
        try:
            file_name = _plain_file_name(entry['filename'], descriptor)
            shape = tuple(int(d) for d in entry['shape'])
        except (KeyError, TypeError, ValueError) as error:
            raise WeightsError(
                f'{descriptor}: malformed entry for {published!r} ({error})') from error
        if name in tensors:
            raise WeightsError(f'{descriptor} lists {name!r} twice')
        file_path = descriptor.parent / file_name
        try:
            raw = file_path.read_bytes()
        except FileNotFoundError as error:
            raise WeightsError(
                f'weight file {file_path} is missing (listed in {descriptor})') from error
        except OSError as error:
            raise WeightsError(
                f'cannot read weight file {file_path}: {error.strerror or error}') from error
        expected = 4 * math.prod(shape)
        if len(raw) != expected:
            raise WeightsError(
                f'{file_path}: {len(raw)} bytes, but {descriptor.name} gives shape {list(shape)} '
                f'= {expected} bytes of float32')
        tensors[name] = np.frombuffer(raw, dtype='<f4').astype(np.float32).reshape(shape)
    return tensors


def _check_and_infer_multiplier(tensors: dict[str, np.ndarray], descriptor: Path,
                                requested: float | None, folder_name: str) -> float:
    missing = [name for name in CANONICAL_NAMES if name not in tensors]
    if missing:
        shown = ', '.join(missing[:4]) + (
            f' and {len(missing) - 4} more' if len(missing) > 4 else '')
        raise WeightsError(f'{descriptor} lacks PoseNet tensor(s) {shown}')
    first = tensors['Conv2d_0/weights'].shape
    if len(first) != 4 or first[-1] not in _MULTIPLIER_BY_FIRST_FILTERS:
        raise WeightsError(
            f'{descriptor}: Conv2d_0/weights has shape {list(first)}; expected [3, 3, 3, F] '
            f'with F 16, 24 or 32 (MobileNetV1 0.50, 0.75, 1.00/1.01)')
    multiplier = _MULTIPLIER_BY_FIRST_FILTERS[first[-1]]
    if multiplier == 1.0:
        if requested in (1.0, 1.01):
            multiplier = requested
        elif '101' in folder_name:
            multiplier = 1.01
    if requested is not None and requested != multiplier:
        raise WeightsError(
            f'{descriptor} holds MobileNetV1 {multiplier:.2f} weights (Conv2d_0 has {first[-1]} '
            f'filters), not the requested multiplier {requested:.2f}')
    for name, shape in expected_shapes(multiplier).items():
        if tensors[name].shape != shape:
            raise WeightsError(
                f'{descriptor}: {name} has shape {list(tensors[name].shape)}, expected '
                f'{list(shape)} for MobileNetV1 {multiplier:.2f}')
    return multiplier
