"""
Finding weights by name: $POSENET_MODELS, the cache, and downloads.

Downloads come from a local HTTP server laid out like Google's tfjs-models storage
(checksums, 404s, offline, atomic cache folders).
"""
from __future__ import annotations

import functools
import hashlib
import http.server
import os
from pathlib import Path
import socket
import stat
import threading

import numpy as np
from posenet_ros.engine import load_weights, ModelNotFoundError, resolve_model
from posenet_ros.engine.model_store import model_name, MODEL_NAMES, PINNED_FILES
import pytest

# Official layout: model name -> folder under the base URL, and the shared folder serving it.
SERVED = {
    'mobilenet_quant2_050': ('savedmodel/posenet/mobilenet/quant2/050', 'mobilenet_quant2_050'),
    'mobilenet_float_050': ('savedmodel/posenet/mobilenet/float/050', 'mobilenet_float_050'),
    'mobilenet_v1_075_weights': ('weights/posenet/mobilenet_v1_075', 'mobilenet_v1_075_weights'),
    # No pinned checksums for float 1.00: served from the quant1 1.00 files, damaged below.
    'mobilenet_float_100': ('savedmodel/posenet/mobilenet/float/100', 'mobilenet_quant1_100'),
}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()


@pytest.fixture
def model_server(models_path, tmp_path):
    """Serve a tfjs-models-like tree (symlinks to the shared weights) on 127.0.0.1."""
    root = tmp_path / 'www'
    for url_folder, shared in SERVED.values():
        target = root / url_folder
        target.mkdir(parents=True)
        for item in (models_path / shared).iterdir():
            (target / item.name).symlink_to(item)
    server = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(_QuietHandler, directory=str(root)))
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f'http://127.0.0.1:{server.server_address[1]}', server.requests
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Set up an empty cache and no $POSENET_MODELS, so names must be downloaded."""
    folder = tmp_path / 'cache'
    monkeypatch.setenv('POSENET_CACHE', str(folder))
    monkeypatch.delenv('POSENET_MODELS', raising=False)
    monkeypatch.delenv('POSENET_MODEL_BASE_URL', raising=False)
    return folder


def damage(path: Path) -> None:
    """Flip one byte of a served file (replacing the symlink by a damaged copy)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.unlink()
    path.write_bytes(bytes(data))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_folder_paths_and_names_under_posenet_models(models_path, monkeypatch, tmp_path):
    folder = models_path / 'mobilenet_float_050'
    assert resolve_model(str(folder)) == folder.resolve()
    monkeypatch.setenv('POSENET_MODELS', str(models_path))
    monkeypatch.setenv('POSENET_CACHE', str(tmp_path / 'cache'))
    expected = (models_path / 'mobilenet_quant2_075').resolve()
    assert resolve_model('mobilenet_quant2_075') == expected
    assert resolve_model('mobilenet_quant2', multiplier=0.75).name == 'mobilenet_quant2_075'
    assert resolve_model('mobilenet_v1', multiplier=0.75).name == 'mobilenet_v1_075_weights'
    with pytest.raises(ValueError, match='does not have multiplier 0.5'):
        resolve_model('mobilenet_quant2_075', multiplier=0.5)
    assert not (tmp_path / 'cache').exists()


def test_unknown_names_and_missing_folders_are_clear(cache):
    with pytest.raises(ModelNotFoundError, match='unknown PoseNet model .*mobilenet_quant2_075'):
        resolve_model('resnet50_stride16')
    with pytest.raises(ModelNotFoundError, match='folder .*no/such/dir does not exist'):
        resolve_model('./no/such/dir')
    assert model_name('mobilenet_float', 1.0) == 'mobilenet_float_100'
    assert 'mobilenet_v1_101_weights' in MODEL_NAMES


def test_download_graph_model_verifies_and_caches(model_server, cache, models_path):
    _, base_url, requests = model_server
    folder = resolve_model('mobilenet_quant2_050', base_url=base_url)
    assert folder == (cache / 'mobilenet_quant2_050').resolve()
    assert sorted(p.name for p in folder.iterdir()) == ['group1-shard1of1.bin',
                                                        'model-stride16.json']
    for item in folder.iterdir():
        assert sha256(item) == PINNED_FILES['mobilenet_quant2_050'][item.name][1]
    weights = load_weights(folder)
    reference = load_weights(models_path / 'mobilenet_quant2_050')
    assert weights.multiplier == 0.5
    np.testing.assert_array_equal(weights['heatmap_2/weights'], reference['heatmap_2/weights'])
    assert requests == ['/savedmodel/posenet/mobilenet/quant2/050/model-stride16.json',
                        '/savedmodel/posenet/mobilenet/quant2/050/group1-shard1of1.bin']
    # Second time: from the cache, no request.
    assert resolve_model('mobilenet_quant2_050', base_url=base_url) == folder
    assert len(requests) == 2
    assert [p.name for p in cache.iterdir()] == ['mobilenet_quant2_050']


def test_downloaded_weights_are_readable_by_other_users_as_the_umask_allows(model_server, cache):
    """A cache filled by one user (a robot image's build) serves a node run by another."""
    _, base_url, _ = model_server
    previous = os.umask(0o022)
    try:
        folder = resolve_model('mobilenet_quant2_050', base_url=base_url)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755
    for item in folder.iterdir():
        assert stat.S_IMODE(item.stat().st_mode) & 0o044 == 0o044, item


def test_download_checkpoint_fetches_every_listed_file(model_server, cache, monkeypatch):
    _, base_url, requests = model_server
    monkeypatch.setenv('POSENET_MODEL_BASE_URL', base_url)
    folder = resolve_model('mobilenet_v1_075_weights')
    assert len(list(folder.iterdir())) == 71 == len(requests)
    assert load_weights(folder).multiplier == 0.75


def test_corrupted_file_is_refused_and_nothing_is_cached(model_server, cache):
    root, base_url, _ = model_server
    damage(root / SERVED['mobilenet_float_050'][0] / 'group1-shard1of1.bin')
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model('mobilenet_float_050', base_url=base_url)
    message = str(caught.value)
    assert f'{base_url}/savedmodel/posenet/mobilenet/float/050/group1-shard1of1.bin' in message
    pinned_sha256 = PINNED_FILES['mobilenet_float_050']['group1-shard1of1.bin'][1]
    assert 'sha256' in message and pinned_sha256 in message
    assert 'POSENET_MODELS' in message
    assert list(cache.iterdir()) == []


def test_unpinned_model_is_still_checked_by_loading_it(model_server, cache):
    root, base_url, _ = model_server
    shard = root / SERVED['mobilenet_float_100'][0] / 'group1-shard1of1.bin'
    data = shard.read_bytes()
    shard.unlink()
    shard.write_bytes(data[:-100])
    with pytest.raises(ModelNotFoundError,
                       match=r'do not load: .*group1-shard1of1\.bin: \d+ bytes'):
        resolve_model('mobilenet_float_100', base_url=base_url)
    assert list(cache.iterdir()) == []


def test_404_names_url_places_looked_and_the_fix(model_server, cache, monkeypatch, tmp_path):
    _, base_url, _ = model_server
    monkeypatch.setenv('POSENET_MODELS', str(tmp_path / 'mine'))
    with pytest.raises(ModelNotFoundError) as caught:
        resolve_model('mobilenet_quant2_100', base_url=base_url)
    message = str(caught.value)
    assert (f'{base_url}/savedmodel/posenet/mobilenet/quant2/100/model-stride16.json: HTTP 404'
            in message)
    assert f'$POSENET_MODELS={tmp_path / "mine"} has no folder mobilenet_quant2_100' in message
    assert str(cache / 'mobilenet_quant2_100') in message
    assert 'set POSENET_MODELS' in message
    assert list(cache.iterdir()) == []


class _DroppingHandler(http.server.BaseHTTPRequestHandler):
    """Serve descriptors whole; a shard, chunked, breaks off a third of the way into its chunk."""

    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.rsplit('/', 1)[-1]
        data = (self.server.folder / name).read_bytes()
        self.send_response(200)
        if name.endswith('.json'):
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        self.wfile.write(b'%x\r\n' % len(data) + data[:len(data) // 3])
        self.close_connection = True


def test_a_download_broken_off_mid_file_is_a_model_error(models_path, cache):
    """The connection drops in a shard: ModelNotFoundError saying so, nothing left behind."""
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _DroppingHandler)
    server.folder = models_path / 'mobilenet_quant2_050'
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f'http://127.0.0.1:{server.server_address[1]}'
    try:
        # Before, http.client.IncompleteRead escaped: a traceback, not the model error.
        with pytest.raises(ModelNotFoundError) as caught:
            resolve_model('mobilenet_quant2_050', base_url=base_url)
    finally:
        server.shutdown()
        server.server_close()
    message = str(caught.value)
    assert (f'download failed: {base_url}/savedmodel/posenet/mobilenet/quant2/050/'
            'group1-shard1of1.bin: incomplete or malformed reply (IncompleteRead(' in message)
    assert 'set POSENET_MODELS' in message
    assert list(cache.iterdir()) == []  # the staging folder is gone


def test_offline_and_download_disabled(cache):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    with pytest.raises(ModelNotFoundError,
                       match=rf'127\.0\.0\.1:{port}/.*model-stride16\.json: .*refused'):
        resolve_model('mobilenet_quant2_075', base_url=f'http://127.0.0.1:{port}')
    with pytest.raises(ModelNotFoundError, match='downloading was disabled'):
        resolve_model('mobilenet_quant2_075', download=False)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_unusable_cache_folder_is_one_clear_error(monkeypatch, tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')
    monkeypatch.setenv('POSENET_CACHE', str(blocker / 'cache'))
    monkeypatch.delenv('POSENET_MODELS', raising=False)
    with pytest.raises(ModelNotFoundError, match=r'the cache folder .*a_file/cache cannot be used '
                                                 r'\(.*\)\. Set POSENET_CACHE to a folder'):
        resolve_model('mobilenet_quant2_075', base_url='http://127.0.0.1:9')


@pytest.mark.parametrize('damaged', ['group1-shard1of1.bin', 'model-stride16.json'])
def test_weights_in_any_folder_are_checked_against_the_pinned_sha256(models_path, tmp_path,
                                                                     damaged):
    """A same-size random shard would load and find nobody: it is refused, naming the file."""
    folder = tmp_path / 'my_weights'
    folder.mkdir()
    for item in (models_path / 'mobilenet_quant2_075').iterdir():
        (folder / item.name).write_bytes(item.read_bytes())
    assert resolve_model(str(folder)) == folder.resolve()
    target = folder / damaged
    size = target.stat().st_size
    if damaged.endswith('.bin'):
        target.write_bytes(np.random.default_rng(0).integers(0, 256, size, np.uint8).tobytes())
    else:
        target.write_bytes(target.read_bytes()[:-1] + b' ')  # same size, other content
    assert target.stat().st_size == size
    with pytest.raises(ValueError, match=rf'{target}.* \({size} bytes\) .*not the published '
                                         rf'{PINNED_FILES["mobilenet_quant2_075"][damaged][1]}'):
        resolve_model(str(folder))
    with pytest.raises(ValueError, match=damaged):
        from posenet_ros.engine.estimator import PoseEstimator
        PoseEstimator(str(folder))
