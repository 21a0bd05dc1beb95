"""
Converted TFLite models kept on disk, so that a process running one never loads TensorFlow.

A model is converted once per (weights, input size, output stride, precision) and stored under
`<cache>/tflite/` (the cache of `model_store.cache_dir`: `$POSENET_CACHE`, else
`$XDG_CACHE_HOME/posenet_ros`, else `~/.cache/posenet_ros`). The file name is the key: the
sha256 of the weight files, the width multiplier, the size, the stride, the precision, the
version of the TensorFlow that converted it and of our graph (`GRAPH_VERSION`). A file is
written atomically and ends with the sha256 of the model before it, so a truncated or damaged
entry is recognised and rebuilt, never run.

Where TensorFlow is not installed (a robot given prepared models) any converter version is
accepted, as nothing could rebuild the model anyway.
"""
from __future__ import annotations

from dataclasses import dataclass
import hashlib
import importlib.metadata
import logging
import os
from pathlib import Path
import threading

from .atomic_write import TEMPORARY_FILE, write_file_atomic
from .leftovers import remove_orphans
from .weights import _read_json, find_weights_file, listed_files

# Version of the graph we convert (mobilenet.run_mobilenet with the normalization in front, one
# fused output). Raise it when the converted graph changes, so that older entries are not used.
GRAPH_VERSION = 1
DEFAULT_PRECISION = 'float32'
# Distributions TensorFlow comes in; the first installed names the converter's version.
_TENSORFLOW_DISTRIBUTIONS = ('tensorflow', 'tensorflow-cpu', 'tensorflow-gpu', 'tf-nightly',
                             'tensorflow-macos', 'tensorflow-intel')
_TRAILER_MAGIC = b'PNTFLC1\n'  # after the model: its sha256 (32 bytes), then this
_TRAILER_BYTES = 32 + len(_TRAILER_MAGIC)
_log = logging.getLogger('posenet_ros.engine')


class CorruptModelError(ValueError):
    """A cache entry that is not a complete model as written (truncated, damaged)."""


def tensorflow_version() -> str | None:
    """Return the installed TensorFlow's version from its metadata (TensorFlow not imported)."""
    for name in _TENSORFLOW_DISTRIBUTIONS:
        try:
            return importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return None


@dataclass(frozen=True)
class TfliteModelKey:
    """
    What a converted model depends on; `file_name` spells it out.

    `variant` is for a precision's own settings (e.g. a quantization recipe and its calibration
    data's digest); empty for float32.
    """

    weights_sha256: str
    multiplier: float
    input_height: int
    input_width: int
    output_stride: int
    precision: str = DEFAULT_PRECISION
    variant: str = ''

    def file_name(self, converter: str | None) -> str:
        """Return the entry's file name; `converter` None gives a glob matching any version."""
        variant = f'-{self.variant}' if self.variant else ''
        converter_part = f'tf{converter}' if converter is not None else 'tf*'
        return (f'posenet-{self.weights_sha256[:24]}-m{self.multiplier:g}-'
                f'{self.input_height}x{self.input_width}-s{self.output_stride}-'
                f'{self.precision}{variant}-{converter_part}-g{GRAPH_VERSION}.tflite')


def tflite_cache_dir() -> Path:
    """Where converted models live: `<cache>/tflite`."""
    from .model_store import cache_dir
    return cache_dir() / 'tflite'


def entry_path(key: TfliteModelKey, converter: str | None = None) -> Path:
    """Return the cache file of `key` for this TensorFlow (`tensorflow_version()` by default)."""
    return tflite_cache_dir() / key.file_name(converter or tensorflow_version() or 'none')


def find_entry(key: TfliteModelKey) -> Path | None:
    """
    Return the cache file to load for `key`, None when there is none.

    The one of the installed TensorFlow, or without TensorFlow the newest intact one of any
    version (nothing could rebuild a damaged one: an older converter's is taken instead).
    """
    converter = tensorflow_version()
    if converter is not None:
        path = entry_path(key, converter)
        return path if path.is_file() else None
    found = newest_intact_entry(key)
    return found[0] if found is not None else None


def matching_entries(key: TfliteModelKey) -> list[Path]:
    """Return the cache files matching `key`, newest first (any converter; glob patterns)."""
    folder = tflite_cache_dir()
    if not folder.is_dir():
        return []
    return sorted(folder.glob(key.file_name(None)), key=_modified, reverse=True)


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # removed meanwhile: the oldest
        return float('-inf')


def newest_intact_entry(key: TfliteModelKey) -> tuple[Path, bytes] | None:
    """
    Return the newest cache file matching `key` whose model is whole, and that model.

    A damaged or unreadable one is logged and passed over, never returned.
    """
    for path in matching_entries(key):
        try:
            return path, read_entry(path)
        except (CorruptModelError, OSError) as error:
            _log.warning('passing over an unusable cached model: %s', error)
    return None


def writable_folder(folder: Path) -> bool:
    """Whether entries can be written into `folder` (made if missing)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK | os.X_OK)


def read_entry(path: Path) -> bytes:
    """Return the model stored at `path`; CorruptModelError when it is not complete and intact."""
    data = path.read_bytes()
    if len(data) <= _TRAILER_BYTES or not data.endswith(_TRAILER_MAGIC):
        raise CorruptModelError(f'{path}: incomplete ({len(data)} bytes, no end marker)')
    model, digest = data[:-_TRAILER_BYTES], data[-_TRAILER_BYTES:-len(_TRAILER_MAGIC)]
    if hashlib.sha256(model).digest() != digest:
        raise CorruptModelError(f'{path}: the model does not match its checksum (damaged)')
    return model


def write_entry(path: Path, model: bytes) -> None:
    """
    Store `model` at `path` atomically, followed by its sha256 and an end marker.

    Temporary files that killed writers left in the folder are removed first (`leftovers`).
    """
    remove_orphans(Path(path).parent, TEMPORARY_FILE)
    write_file_atomic(path, model + hashlib.sha256(model).digest() + _TRAILER_MAGIC)


_checksums: dict[tuple, str] = {}
_checksums_lock = threading.Lock()


def weights_checksum(path: str | os.PathLike) -> str:
    """
    Return the sha256 over the weight files of a folder (or descriptor file).

    The descriptor and every file it lists, names included. Remembered per path, modification
    time and size.
    """
    path = Path(path)
    descriptor = find_weights_file(path) if path.is_dir() else path
    files = [descriptor] + [descriptor.parent / name
                            for name in listed_files(descriptor, _read_json(descriptor))[0]]
    stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    with _checksums_lock:
        known = _checksums.get(stamp)
    if known is not None:
        return known
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode('utf-8') + b'\0')
        digest.update(hashlib.sha256(file.read_bytes()).digest())
    checksum = digest.hexdigest()
    with _checksums_lock:
        _checksums[stamp] = checksum
    return checksum
