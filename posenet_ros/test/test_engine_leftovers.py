"""
What killed processes leave behind is removed by the next process making the same kind of thing.

Real processes: a child that is killed (SIGKILL, no clean-up) after making a scratch folder and
a half-written cache file, each named with its process id; a live process's are kept.
"""
from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys
import textwrap

from posenet_ros.engine import leftovers, tflite_cache
from posenet_ros.engine.atomic_write import TEMPORARY_FILE
import pytest

# Makes a scratch folder and a temporary file of a cache entry as the engine does, then waits
# to be killed.
_KILLED_WRITER = textwrap.dedent("""
    import os, sys, tempfile, time
    from pathlib import Path
    from posenet_ros.engine.leftovers import scratch_folder
    folder = scratch_folder('int8')
    (Path(folder.name) / 'calibration.npz').write_bytes(b'frames')
    cache = Path(sys.argv[1])
    cache.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=f'.entry.tflite.{os.getpid()}.', suffix='.tmp',
                                    dir=cache)
    os.write(handle, b'half a model')
    print(folder.name, name, flush=True)
    time.sleep(600)
""")


@pytest.fixture
def killed_writer(tmp_path, monkeypatch):
    """Return (scratch folder, temporary file) of a process killed before cleaning up."""
    scratch_root = tmp_path / 'tmp'
    scratch_root.mkdir()
    monkeypatch.setenv('TMPDIR', str(scratch_root))
    monkeypatch.setattr('tempfile.tempdir', None)  # read TMPDIR again
    cache = tmp_path / 'cache' / 'tflite'
    child = subprocess.Popen([sys.executable, '-c', _KILLED_WRITER, str(cache)],
                             stdout=subprocess.PIPE, text=True, env=dict(os.environ))
    folder, temporary = child.stdout.readline().split()
    child.kill()
    child.wait()
    old = leftovers.ORPHAN_AGE_S + 60.0
    for path in (Path(folder), Path(temporary)):
        os.utime(path, (path.stat().st_atime - old, path.stat().st_mtime - old))
    return Path(folder), Path(temporary)


def test_a_killed_processs_scratch_folder_goes_with_the_next_one(killed_writer):
    folder, _ = killed_writer
    assert folder.is_dir()
    with leftovers.scratch_folder('int8') as mine:
        assert Path(mine).name.startswith(f'posenet_int8_{os.getpid()}_')
        assert not folder.exists(), "the dead process's frames were left"
    assert not Path(mine).exists()


def test_a_killed_writers_temporary_file_goes_with_the_next_cache_write(killed_writer):
    _, temporary = killed_writer
    assert TEMPORARY_FILE.fullmatch(temporary.name)
    tflite_cache.write_entry(temporary.parent / 'other.tflite', b'model')
    assert not temporary.exists()
    assert tflite_cache.read_entry(temporary.parent / 'other.tflite') == b'model'


def test_what_a_live_or_recent_process_made_is_kept(tmp_path):
    """Another process may still be writing (even on another machine): never touched."""
    recent = tmp_path / f'posenet_int8_{os.getpid() + 10**6}_abc'  # no such process, but new
    recent.mkdir()
    alive = tmp_path / f'posenet_int8_{os.getpid()}_abc'  # this process, made long ago
    alive.mkdir()
    old = leftovers.ORPHAN_AGE_S + 60.0
    os.utime(alive, (alive.stat().st_atime - old, alive.stat().st_mtime - old))
    assert leftovers.remove_orphaned_folders(tmp_path, 'posenet_int8_') == []
    assert recent.is_dir() and alive.is_dir()
