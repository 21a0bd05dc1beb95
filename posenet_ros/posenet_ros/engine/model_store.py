"""
Find PoseNet weights by model name: $POSENET_MODELS, the user cache, or Google's servers.

`resolve_model` turns a model name (the tfjs storage layout names, e.g. `mobilenet_quant2_075`
or `mobilenet_v1_101_weights`) or a folder path into a local folder. Downloads go to the cache
(`$POSENET_CACHE`, else `$XDG_CACHE_HOME/posenet_ros`, else `~/.cache/posenet_ros`), are checked
against the sha256 of the published files where those are known (`model_hashes.json`, package
data) and against the byte counts their manifest gives, and are loaded once before they
appear: a folder in the cache is complete or absent, never half-written. Weights found in a
folder are checked against the same sha256 values wherever a file has a published name and size.
"""
from __future__ import annotations

import hashlib
import http.client
import importlib.resources
import json
import os
from pathlib import Path
import re
import shutil
import tempfile
import urllib.error
import urllib.request

from tqdm import tqdm

from .atomic_write import current_umask
from .weights import find_weights_file, listed_files, load_weights, WeightsError

DEFAULT_BASE_URL = 'https://storage.googleapis.com/tfjs-models'
BASE_URL_ENV = 'POSENET_MODEL_BASE_URL'
MODELS_ENV = 'POSENET_MODELS'
CACHE_ENV = 'POSENET_CACHE'
DOWNLOAD_TIMEOUT_S = 30.0
_CHUNK = 1 << 18

_MULTIPLIER_SUFFIX = {0.5: '050', 0.75: '075', 1.0: '100', 1.01: '101'}
# Model name -> (folder under the base URL, the file that lists the others).
GRAPH_MODELS = {
    f'mobilenet_{kind}_{suffix}': (f'savedmodel/posenet/mobilenet/{kind}/{suffix}',
                                   'model-stride16.json')
    for kind in ('float', 'quant2', 'quant1') for suffix in ('050', '075', '100')}
CHECKPOINT_MODELS = {
    f'mobilenet_v1_{suffix}_weights': (f'weights/posenet/mobilenet_v1_{suffix}', 'manifest.json')
    for suffix in ('050', '075', '100', '101')}
MODELS = {**GRAPH_MODELS, **CHECKPOINT_MODELS}
MODEL_NAMES = tuple(MODELS)

# Size and sha256 of published files (engine/model_hashes.json, package data). Files not listed
# are checked by size and by loading.
HASHES_RESOURCE = 'model_hashes.json'


def _load_pinned_files() -> dict[str, dict[str, tuple[int, str]]]:
    text = importlib.resources.files(__package__).joinpath(HASHES_RESOURCE).read_text('utf-8')
    return {model: {name: (int(entry['size']), str(entry['sha256']))
                    for name, entry in files.items()}
            for model, files in json.loads(text)['models'].items()}


def _pins_by_name_and_size(pinned) -> dict[tuple[str, int], set[str]]:
    """(file name, size) -> the sha256 values of published files of that name and size."""
    pins: dict[tuple[str, int], set[str]] = {}
    for files in pinned.values():
        for name, (size, sha) in files.items():
            pins.setdefault((name, size), set()).add(sha)
    return pins


PINNED_FILES: dict[str, dict[str, tuple[int, str]]] = _load_pinned_files()
_PINS_BY_NAME_AND_SIZE = _pins_by_name_and_size(PINNED_FILES)


class ModelNotFoundError(FileNotFoundError):
    """The requested PoseNet weights are not on disk and could not be downloaded."""


def cache_dir() -> Path:
    """
    Return where downloaded weights live.

    $POSENET_CACHE, $XDG_CACHE_HOME/posenet_ros or ~/.cache/posenet_ros.
    """
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    xdg = os.environ.get('XDG_CACHE_HOME')
    return (Path(xdg).expanduser() if xdg else Path.home() / '.cache') / 'posenet_ros'


def model_name(model: str, multiplier: float | None = None) -> str:
    """
    Return the full model name.

    `model` itself, or a family ('mobilenet_quant2', 'mobilenet_v1') completed with the
    multiplier's suffix. ValueError if the two disagree.
    """
    if model in MODELS:
        if multiplier is not None and _MULTIPLIER_SUFFIX.get(multiplier) not in model.split('_'):
            raise ValueError(f'model {model!r} does not have multiplier {multiplier}')
        return model
    if multiplier is not None and multiplier in _MULTIPLIER_SUFFIX:
        suffix = _MULTIPLIER_SUFFIX[multiplier]
        candidate = f'{model}_{suffix}_weights' if model == 'mobilenet_v1' else f'{model}_{suffix}'
        if candidate in MODELS:
            return candidate
    return model


def resolve_model(model: str, multiplier: float | None = None, *, download: bool = True,
                  base_url: str | None = None) -> Path:
    """
    Return a local folder (or weights file) holding `model`, downloaded to the cache if needed.

    `model` is an existing folder/file path or a name from MODEL_NAMES; with `multiplier`, a
    family name such as 'mobilenet_quant2' is completed ('mobilenet_quant2_075'). Names are
    looked up in $POSENET_MODELS/<name>, then <cache>/<name>, then fetched from `base_url`
    (default $POSENET_MODEL_BASE_URL or Google's tfjs-models storage). Raises ModelNotFoundError
    saying where it looked and how to provide the files.
    """
    as_path = Path(model).expanduser()
    if as_path.exists():
        return verify_pinned_files(as_path.resolve())
    if os.sep in model or model.startswith(('.', '~')) or (os.altsep and os.altsep in model):
        raise ModelNotFoundError(f'PoseNet weights folder {as_path} does not exist')
    name = model_name(model, multiplier)
    if name not in MODELS:
        raise ModelNotFoundError(
            f'unknown PoseNet model {model!r}: give a folder path or one of '
            f'{", ".join(MODEL_NAMES)}')
    looked = []
    models_root = os.environ.get(MODELS_ENV)
    if models_root:
        candidate = Path(models_root).expanduser() / name
        if candidate.is_dir():
            return verify_pinned_files(candidate.resolve())
        looked.append(f'${MODELS_ENV}={models_root} has no folder {name}')
    else:
        looked.append(f'${MODELS_ENV} is not set')
    cached = cache_dir() / name
    try:
        if cached.is_dir():
            return verify_pinned_files(cached.resolve())
    except PermissionError as error:
        raise ModelNotFoundError(_cache_unusable_message(name, cached, error)) from None
    looked.append(f'not in the cache {cached}')
    if not download:
        raise ModelNotFoundError(_not_found_message(name, looked + ['downloading was disabled']))
    base = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip('/')
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=cached.parent).close()  # can files be made there?
    except OSError as error:
        raise ModelNotFoundError(_cache_unusable_message(name, cached, error)) from None
    try:
        return download_model(name, cached, base)
    except _DownloadError as error:
        raise ModelNotFoundError(
            _not_found_message(name, looked + [f'download failed: {error}'])) from None


def _not_found_message(name: str, looked: list[str]) -> str:
    folder, descriptor = MODELS[name]
    what = ('manifest.json and every file it names' if descriptor == 'manifest.json'
            else f'{descriptor} and the group1-shard*.bin files it lists')
    return (f'PoseNet model {name!r} is not available:\n'
            + ''.join(f'  - {line}\n' for line in looked)
            + f'Get {what} (published at {DEFAULT_BASE_URL}/{folder}/) into a folder named '
            f'{name}, '
            f'then set {MODELS_ENV} to the folder that contains it, or pass the folder path as '
            f'the model; or check the network connection and try again.')


def _cache_unusable_message(name: str, cached: Path, error: OSError) -> str:
    return (f'PoseNet model {name!r} is not available: the cache folder {cached.parent} cannot '
            f'be used ({error.strerror or error}). Set {CACHE_ENV} to a folder you can write '
            f'to, or {MODELS_ENV} to a folder that holds {name}/.')


class _DownloadError(Exception):
    pass


class PinnedHashMismatchError(WeightsError):
    """A weight file with a published name and size but not the published content."""


def verify_pinned_files(path: Path) -> Path:
    """
    `path` (a weights folder or descriptor file) after checking its files against the pins.

    Every file the folder's descriptor names (and the descriptor itself) whose name and size
    are those of a published file (PINNED_FILES) must have that file's sha256: a same-size
    damaged or replaced file would load and silently find nobody. Files not published (other
    weights) are left to `load_weights`. Raises PinnedHashMismatchError naming the file.
    """
    folder = path if path.is_dir() else path.parent
    try:
        descriptor = path if path.is_file() else find_weights_file(folder)
    except WeightsError:
        return path  # no weights here: load_weights says so
    _check_pinned(descriptor)
    try:
        names, _ = listed_files(descriptor, json.loads(descriptor.read_bytes()))
    except (OSError, ValueError, AttributeError, TypeError):
        return path  # not loadable: load_weights says why
    for file_name in dict.fromkeys(names):
        _check_pinned(folder / file_name)
    return path


def _check_pinned(file_path: Path) -> None:
    try:
        size = file_path.stat().st_size
    except OSError:
        return  # missing: load_weights names it
    published = _PINS_BY_NAME_AND_SIZE.get((file_path.name, size))
    if published is None:
        return
    digest = _sha256_of(file_path)
    if digest not in published:
        raise PinnedHashMismatchError(
            f'{file_path} has the name and size ({size} bytes) of a published PoseNet file but '
            f'sha256 {digest}, not the published {" or ".join(sorted(published))}: the file '
            'is damaged or was replaced; fetch it again')


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def download_model(name: str, destination: Path, base_url: str) -> Path:
    """Fetch every file of `name` into `destination`, atomically; returns `destination`."""
    folder, descriptor_name = MODELS[name]
    url = f'{base_url}/{folder}'
    pinned = PINNED_FILES.get(name, {})
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f'.{name}.partial-', dir=destination.parent))
    try:
        descriptor = staging / descriptor_name
        _fetch(f'{url}/{descriptor_name}', descriptor, pinned.get(descriptor_name), None)
        try:
            document = json.loads(descriptor.read_bytes())
            files, total = listed_files(Path(f'{url}/{descriptor_name}'), document)
        except (ValueError, AttributeError, TypeError) as error:
            raise _DownloadError(
                f'{url}/{descriptor_name} is not a PoseNet weights manifest: {error}')
        with tqdm(total=total, unit='B', unit_scale=True, unit_divisor=1024,
                  desc=f'Downloading PoseNet {name}') as progress:
            for file_name in files:
                _fetch(f'{url}/{file_name}', staging / file_name, pinned.get(file_name), progress)
        try:
            load_weights(staging)
        except WeightsError as error:
            raise _DownloadError(f'the files fetched from {url} do not load: {error}')
        # mkdtemp makes it 0700: a node run by another user could not read the cache it shares.
        os.chmod(staging, 0o777 & ~current_umask())
        try:
            staging.rename(destination)
        except OSError:
            if not destination.is_dir():  # not a concurrent download finishing first
                raise
        return destination
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _fetch(url: str, target: Path, pin: tuple[int, str] | None, progress: tqdm | None) -> None:
    digest = hashlib.sha256()
    size = 0
    request = urllib.request.Request(url, headers={'User-Agent': 'posenet_ros'})
    try:
        with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response, \
                open(target, 'wb') as stream:
            while chunk := response.read(_CHUNK):
                stream.write(chunk)
                digest.update(chunk)
                size += len(chunk)
                if progress is not None:
                    progress.update(len(chunk))
    except urllib.error.HTTPError as error:
        raise _DownloadError(f'{url}: HTTP {error.code} {error.reason}') from None
    except urllib.error.URLError as error:
        raise _DownloadError(f'{url}: {error.reason}') from None
    except http.client.HTTPException as error:  # the connection dropped mid-body, a bad reply
        raise _DownloadError(f'{url}: incomplete or malformed reply ({error!r})') from None
    except OSError as error:  # timeouts, resets, disk full
        raise _DownloadError(f'{url}: {error}') from None
    if pin is not None:
        expected_size, expected_sha = pin
        if size != expected_size or digest.hexdigest() != expected_sha:
            raise _DownloadError(
                f'{url}: got {size} bytes with sha256 {digest.hexdigest()}, expected '
                f'{expected_size} bytes with sha256 {expected_sha} (corrupted or changed file; '
                f'nothing was kept)')


def multiplier_from_model_name(name: str) -> float | None:
    """
    Return the width multiplier a model name ends in, None when it ends in none.

    0.75 for 'mobilenet_quant2_075' or 'mobilenet_v1_075_weights', 1.01 for '..._101'.
    """
    match = re.search(r'_(050|075|100|101)(?:_weights)?$', name)
    return int(match.group(1)) / 100.0 if match else None
