"""
The child process that converts a model: its command line, what a failed one leaves, its end.

The conversion itself (the child importing TensorFlow) is tested by test_engine_tflite_cache.py
and test_engine_int8.py; here the child is a stand-in that writes the way the real one does,
except where a real child must end with its parent.
"""
from __future__ import annotations

import os
from pathlib import Path
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
from posenet_ros.engine.tflite_build import (child_command, ModelBuildError, parse_arguments,
                                             run_child, stop_child_builds)
import pytest

# Writes its output file with write_file_atomic as the real child does, and is stopped for
# good once the bytes are in the temporary file (before the rename): it hangs or is killed.
_STOPPED_WRITER = textwrap.dedent("""
    import os, signal, sys, time
    from pathlib import Path
    from posenet_ros.engine.atomic_write import write_file_atomic
    out, started, how = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]

    def stop(_):
        started.write_text('')
        if how == 'hangs':
            time.sleep(600)
        os.kill(os.getpid(), signal.SIGKILL)

    os.fsync = stop
    write_file_atomic(out, b'half a model')
""")


@pytest.mark.parametrize('multiplier', [0.5, np.float64(0.75), np.float64(1.01), 1])
def test_the_child_reads_the_multiplier_it_is_given(multiplier):
    """Pass NumPy floats as plain numbers: 'np.float64(0.75)', their repr, fails argparse."""
    command = child_command(Path('weights/tuned.json'), multiplier, 257, 353, 16, 2,
                            Path('cache/model.tflite'), Path('frames.npz'), {'float_layers': 3})
    assert command[:3] == [sys.executable, '-m', 'posenet_ros.engine.tflite_build']
    arguments = parse_arguments(command[3:])
    assert arguments.multiplier == pytest.approx(float(multiplier), rel=1e-7)
    assert (arguments.weights, arguments.height, arguments.width, arguments.stride,
            arguments.out, arguments.threads) == (Path('weights/tuned.json'), 257, 353, 16,
                                                  Path('cache/model.tflite'), 2)
    assert arguments.int8_calibration == Path('frames.npz')
    assert arguments.quantize_options == {'float_layers': 3}


@pytest.mark.parametrize('how, reason', [('hangs', 'took over 10 s'),
                                         ('is killed', r'failed \(exit status -9\)')])
def test_a_child_that_fails_leaves_no_temporary_file_in_the_cache(tmp_path, how, reason):
    """
    The child stopped while writing: its temporary file is removed, another writer's kept.

    The other writer (this process, still alive) is writing the same model meanwhile.
    """
    out = tmp_path / 'cache' / 'model.tflite'
    out.parent.mkdir()
    others = out.parent / f'.model.tflite.{os.getpid()}.k3x_9qzw.tmp'
    others.write_bytes(b'')
    started = tmp_path / 'started'
    with pytest.raises(ModelBuildError, match=f'building the test model {reason}'):
        run_child([sys.executable, '-c', _STOPPED_WRITER, str(out), str(started), how], out,
                  'test model', timeout=10.0)
    assert started.exists()  # stopped with its temporary file there
    assert list(out.parent.iterdir()) == [others]


def test_a_child_build_stopped_as_its_model_is_released_leaves_nothing(tmp_path):
    """stop_child_builds (a node cleaning up or ending) kills it mid-write: a named error."""
    out = tmp_path / 'cache' / 'model.tflite'
    out.parent.mkdir()
    started = tmp_path / 'started'
    stopper = threading.Thread(target=lambda: (wait_for_file(started), stop_child_builds()))
    stopper.start()
    with pytest.raises(ModelBuildError, match='building the test model was stopped'):
        run_child([sys.executable, '-c', _STOPPED_WRITER, str(out), str(started), 'hangs'], out,
                  'test model', timeout=60.0)
    stopper.join(10.0)
    assert started.exists() and list(out.parent.iterdir()) == []
    assert stop_child_builds() == 0  # none left running


def wait_for_file(path: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


# A parent starting a real int8 calibration child (TensorFlow, many seconds) and waiting for it.
_BUILD_PARENT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from posenet_ros.engine.tflite_build import build_in_child_process
    weights, frames, out = (Path(argument) for argument in sys.argv[1:4])
    build_in_child_process(weights, 0.5, 129, 129, 16, 1, out, int8_calibration=frames)
""")


def process_state(pid: int) -> str | None:
    """Return the state letter of /proc/<pid>/stat ('R', 'S', 'Z', ...), None when gone."""
    try:
        stat_line = Path(f'/proc/{pid}/stat').read_text()
    except OSError:
        return None
    return stat_line.rsplit(')', 1)[1].split()[0]


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path('/proc').iterdir():
        try:
            fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == str(pid):
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='parent-death signal: Linux')
def test_a_build_child_ends_when_its_parent_is_killed(models_path, data_path, tmp_path):
    """
    SIGKILL the parent mid-calibration: its child goes too, not on for minutes with TensorFlow.

    Before, the child was reparented to PID 1 and calibrated on to the end (or BUILD_TIMEOUT_S).
    """
    from posenet_ros.engine.image_io import load_image_rgb
    photo = load_image_rgb(data_path / 'smoke' / 'zidane.jpg')[:240, :320]
    frames = tmp_path / 'frames.npz'
    np.savez(frames, *[np.roll(photo, shift, axis=1) for shift in range(0, 320, 20)])
    out = tmp_path / 'cache' / 'model.tflite'
    parent = subprocess.Popen(
        [sys.executable, '-c', _BUILD_PARENT, str(models_path / 'mobilenet_float_050'),
         str(frames), str(out)], stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, POSENET_CACHE=str(tmp_path / 'cache')))
    child = None
    try:
        deadline = time.monotonic() + 60.0
        while child is None and time.monotonic() < deadline and parent.poll() is None:
            child = next(iter(children_of(parent.pid)), None)
            time.sleep(0.05)
        assert child is not None, 'the build child did not start'
        time.sleep(1.0)  # the child is past its start, importing TensorFlow
        assert process_state(child) not in (None, 'Z'), 'the child ended before the test'
        parent.send_signal(signal.SIGKILL)
        parent.wait(10.0)
        deadline = time.monotonic() + 3.0
        while process_state(child) not in (None, 'Z') and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process_state(child) in (None, 'Z'), 'the child outlived its parent'
        assert not out.exists()
    finally:
        parent.kill()
        parent.wait()
        if child is not None and process_state(child) not in (None, 'Z'):
            os.kill(child, signal.SIGKILL)
