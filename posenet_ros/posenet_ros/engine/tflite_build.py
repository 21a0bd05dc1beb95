"""
Convert a model into the TFLite cache in a child process, so the caller never loads TensorFlow.

A node or CLI whose model is not in the cache yet would otherwise import TensorFlow for one
conversion and keep its ~550 MB for the rest of its life. The child loads the weights, converts
the graph (`backends.TfliteBackend._convert`) and writes the cache entry atomically; the parent
then reads the entry like any other. Where the entry cannot be written (a full disk), the child
writes the parent's spare file instead and the model serves the parent only, as a conversion in
the parent would.

    python -m posenet_ros.engine.tflite_build WEIGHTS HEIGHT WIDTH STRIDE OUT [--multiplier M]
        [--threads N] [--spare PATH] [--int8-calibration FRAMES.npz [--quantize-options JSON]]

With `--int8-calibration` the model is the int8 one calibrated on the frames saved in the .npz
(uint8 RGB arrays; `int8_backend` writes it), with the `QuantizeOptions` given as JSON.

`stop_child_builds` ends the builds in progress (a node releasing its model or ending would
otherwise wait up to minutes for an int8 calibration it no longer needs); each fails with
ModelBuildError and leaves nothing in the cache. On Linux a child also ends when its parent
dies (`die_with_parent`), killed or not, rather than run on, orphaned, for up to BUILD_TIMEOUT_S.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
import signal
import subprocess
import sys
import threading

from .atomic_write import remove_temporary_files

BUILD_TIMEOUT_S = 600.0
_log = logging.getLogger('posenet_ros.engine')
PARENT_PID_ENV = 'POSENET_BUILD_PARENT_PID'  # the process the child must not outlive
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_STDERR_TAIL_LINES = 12
_children_lock = threading.Lock()
_children: set = set()  # the builds running, as Popen objects
_stopped: set = set()  # those stop_child_builds ended


class ModelBuildError(RuntimeError):
    """The child process could not convert the model (its last lines of output are given)."""


def build_in_child_process(weights_path: Path, multiplier: float, height: int, width: int,
                           output_stride: int, num_threads: int, out: Path,
                           int8_calibration: Path | None = None,
                           quantize_options: dict | None = None) -> bytes:
    """
    Run the conversion in a new Python process writing `out`; return the model.

    ModelBuildError on failure. Where `out` could not be written the model comes from a spare
    file of this call's, for this process only (logged with the child's reason).
    weights_path: the descriptor file of the weights (or their folder, for its default one).
    """
    from .leftovers import scratch_folder
    from .tflite_cache import read_entry
    what = (f'{"int8" if int8_calibration else "float32"} TFLite model {height}x{width} '
            f'stride {output_stride}')
    with scratch_folder('build') as scratch:
        spare = Path(scratch) / out.name
        command = child_command(weights_path, multiplier, height, width, output_stride,
                                num_threads, out, int8_calibration, quantize_options, spare=spare)
        said = run_child(command, out, what)
        if not spare.exists():
            return read_entry(out)
        reason = said.strip().splitlines()[-1] if said.strip() else 'no reason given'
        _log.warning('cannot store the %s in the model cache (%s): it serves this process only',
                     what, reason)
        return read_entry(spare)


def child_command(weights_path: Path, multiplier: float, height: int, width: int,
                  output_stride: int, num_threads: int, out: Path,
                  int8_calibration: Path | None = None,
                  quantize_options: dict | None = None, spare: Path | None = None) -> list[str]:
    """Return the command line of the child process (`main` parses it)."""
    # str(float()): repr of a NumPy float is 'np.float64(0.5)', which the child cannot parse.
    command = [sys.executable, '-m', __name__, str(weights_path), str(height), str(width),
               str(output_stride), str(out), '--multiplier', str(float(multiplier)),
               '--threads', str(num_threads)]
    if spare is not None:
        command += ['--spare', str(spare)]
    if int8_calibration is not None:
        command += ['--int8-calibration', str(int8_calibration),
                    '--quantize-options', json.dumps(quantize_options or {})]
    return command


def run_child(command: list[str], out: Path, what: str,
              timeout: float = BUILD_TIMEOUT_S) -> str:
    """
    Run a child process that writes `out`; ModelBuildError if it fails or takes over `timeout`.

    Return what the child wrote on its standard error. A child that fails or is killed leaves
    no temporary file of `out` behind.
    """
    package_root = str(Path(__file__).resolve().parents[2])  # the folder holding posenet_ros
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [package_root] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    env.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    env[PARENT_PID_ENV] = str(os.getpid())
    with subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as child:
        with _children_lock:
            _children.add(child)
        try:
            _, stderr = child.communicate(timeout=timeout)
        except BaseException as error:  # the timeout, or this process interrupted
            child.kill()
            child.communicate()
            if isinstance(error, subprocess.TimeoutExpired):
                raise ModelBuildError(f'building the {what} took over {timeout:g} s; '
                                      'gave up') from None
            raise
        finally:
            with _children_lock:
                _children.discard(child)
                stopped = child in _stopped
                _stopped.discard(child)
            if child.returncode != 0:  # failed, timed out, stopped or killed: nothing left
                remove_temporary_files(out, child.pid)
    if stopped:
        raise ModelBuildError(f'building the {what} was stopped (the model is no longer needed)')
    if child.returncode != 0:
        tail = stderr.decode('utf-8', 'replace').strip().splitlines()[-_STDERR_TAIL_LINES:]
        raise ModelBuildError(f'building the {what} failed (exit status {child.returncode}): '
                              + ' | '.join(tail))
    return stderr.decode('utf-8', 'replace')


def stop_child_builds() -> int:
    """Kill the child processes building models now; return how many there were."""
    with _children_lock:
        children = [child for child in _children if child not in _stopped]  # once each
        _stopped.update(children)
    for child in children:
        child.kill()
    return len(children)


def die_with_parent() -> None:
    """
    Have the kernel kill this child when its parent dies (Linux; elsewhere nothing is done).

    A parent killed (SIGKILL, or SIGTERM to posenet_estimate) would otherwise leave the child
    and its TensorFlow (~1.3 GB) running, reparented to PID 1, for up to BUILD_TIMEOUT_S. The
    kernel watches the thread that started the child, which waits for it in `run_child`. A
    parent that died before the request is caught by the parent id no longer being its id.
    """
    expected = os.environ.get(PARENT_PID_ENV)
    if not sys.platform.startswith('linux') or not expected:
        return
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        return  # not honoured (a sandbox): the parent's timeout and stop still end the build
    if os.getppid() != int(expected):
        sys.exit('the process that started this model build has ended')


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Return the child's arguments, as `child_command` gives them."""
    parser = argparse.ArgumentParser(prog='python -m posenet_ros.engine.tflite_build',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('weights', type=Path)
    parser.add_argument('height', type=int)
    parser.add_argument('width', type=int)
    parser.add_argument('stride', type=int)
    parser.add_argument('out', type=Path)
    parser.add_argument('--multiplier', type=float, default=None)
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--spare', type=Path, default=None,
                        help='where to write the model when OUT cannot be written')
    parser.add_argument('--int8-calibration', type=Path, default=None)
    parser.add_argument('--quantize-options', type=json.loads, default={})
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    die_with_parent()  # first: the parent may be killed at any moment from now on
    args = parse_arguments(argv)
    from posenet_ros.engine import tflite_cache
    from posenet_ros.engine.backends import TfliteBackend
    from posenet_ros.engine.weights import load_weights
    weights = load_weights(args.weights, args.multiplier)
    if args.int8_calibration is None:
        backend = TfliteBackend(weights, weights.multiplier, '/CPU:0', args.threads)
    else:
        from posenet_ros.engine.int8_backend import (Int8TfliteBackend, load_calibration_frames,
                                                     QuantizeOptions)
        frames = load_calibration_frames(args.int8_calibration)
        backend = Int8TfliteBackend(weights, weights.multiplier, '/CPU:0', args.threads, frames,
                                    QuantizeOptions(**args.quantize_options))
    model = backend._convert(args.height, args.width, args.stride)  # noqa: SLF001
    try:
        tflite_cache.write_entry(args.out, model)
    except OSError as error:  # a full disk: the parent can still run it
        if args.spare is None:
            raise
        print(f'{args.out} cannot be written: {error.strerror or error}', file=sys.stderr)
        tflite_cache.write_entry(args.spare, model)
    return 0


if __name__ == '__main__':
    sys.exit(main())
