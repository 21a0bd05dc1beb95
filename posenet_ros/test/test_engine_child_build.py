"""
The child process that converts a model: its command line, and what a failed one leaves.

The conversion itself (the child importing TensorFlow) is tested by test_engine_tflite_cache.py
and test_engine_int8.py; here the child is a stand-in that writes the way the real one does.
"""
from __future__ import annotations

import os
from pathlib import Path
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
