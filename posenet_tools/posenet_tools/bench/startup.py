"""
posenet_bench_startup: posenet_node's start-up time and memory, with a cold and warm cache.

For each cache state the node is started as a process (`python -m posenet_ros.ros.node`) while
a client publishes a camera-sized frame every 50 ms; the time from starting the process to the
first PoseArray is the start-up time. Frames then go on at `--rate` for `--seconds` (steady
state), after which the node's resident memory is read from /proc (VmRSS; RssAnon, its own heap
without shared library pages; VmHWM, the peak) with the CPU seconds it spent per frame.

'cold' starts with an empty TFLite model cache ($POSENET_CACHE of its own), so the node converts
its model first (in a child process); 'warm' starts with the model in the cache (converted
ahead with `posenet_estimate --prepare` when no earlier run put it there). 'before' runs the
posenet_ros of `--before-root` (another checkout, e.g. the version before the model cache).
'int8-cold' and 'int8-warm' run `precision: int8` with the float32 model cached: 'int8-cold'
with no int8 model, so the node calibrates on its first frames (in a child process) while
float32 serves them, 'int8-warm' with the model that calibration left in the cache; for both,
the time until frames run in int8 is reported, and the steady state is measured after it.

    python -m posenet_tools.bench.startup                       # cold, then warm
    python -m posenet_tools.bench.startup --threads 1 --seconds 20
    python -m posenet_tools.bench.startup --caches before,cold,warm --before-root ~/old/posenet_ros
    python -m posenet_tools.bench.startup --caches warm,int8-cold,int8-warm
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.image_io import load_image_rgb
from posenet_ros.engine.model_store import resolve_model
from posenet_ros.ros.image_conversion import rgb_to_image_msg
from posenet_tools.bench.ros_session import BenchClient, NodeProcess, RosBenchError
from posenet_tools.shared_data import shared_dir

FIRST_POSE_TIMEOUT_S = 180.0
INT8_SWITCH_TIMEOUT_S = 600.0
RETRY_PERIOD_S = 0.05
INT8_RUNNING = 'frames now run in int8'  # the node's log line when int8 takes over


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS, RssAnon and VmHWM of a process, MiB."""
    values = {}
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        name, _, rest = line.partition(':')
        if name in ('VmRSS', 'RssAnon', 'VmHWM'):
            values[name] = int(rest.split()[0]) / 1024.0
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (its threads included), seconds."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def measure(label: str, model: str, frame, config: EstimateConfig, threads: int, seconds: float,
            rate: float, package_root: str | None) -> dict:
    namespace = f"/posenet_startup_{os.getpid()}_{label.replace('-', '_')}_{uuid.uuid4().hex[:6]}"
    client = BenchClient(namespace)
    int8 = label.startswith('int8')
    parameters = {'num_threads': threads, **({'precision': 'int8'} if int8 else {})}
    node = NodeProcess(model, None, config, namespace=namespace, extra_parameters=parameters,
                       package_root=package_root)
    try:
        start = time.perf_counter()
        node.start()
        first = None
        while first is None:
            if time.perf_counter() - start > FIRST_POSE_TIMEOUT_S:
                raise RosBenchError(f'no PoseArray within {FIRST_POSE_TIMEOUT_S:.0f} s:\n'
                                    f'{node.log_tail()}')
            node.check_alive()
            stamp, _ = client.publish(frame)
            first = client.wait_for(stamp, RETRY_PERIOD_S)
        first_pose_s = first - start
        int8_s = wait_for_int8(node, client, frame, rate, start) if int8 else None
        cpu_before, answered = cpu_seconds(node.pid), 0
        client.take_arrivals()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            stamp, _ = client.publish(frame)
            answered += client.wait_for(stamp, 1.0 / rate + 5.0) is not None
            time.sleep(max(0.0, 1.0 / rate - 0.001))
        cpu_per_frame = (cpu_seconds(node.pid) - cpu_before) / max(answered, 1)
        memory = proc_status(node.pid)
    finally:
        client.close()
        node.stop()
    return {'cache': label, 'first_pose_s': first_pose_s, 'int8_s': int8_s, 'frames': answered,
            'cpu_s_per_frame': cpu_per_frame, **memory}


def wait_for_int8(node: NodeProcess, client: BenchClient, frame, rate: float,
                  start: float) -> float:
    """Stream frames at `rate` until the node logs that int8 runs; seconds since `start`."""
    while INT8_RUNNING not in node.log_tail(40):
        if time.perf_counter() - start > INT8_SWITCH_TIMEOUT_S:
            raise RosBenchError(f'int8 not running after {INT8_SWITCH_TIMEOUT_S:.0f} s:\n'
                                f'{node.log_tail()}')
        node.check_alive()
        stamp, _ = client.publish(frame)
        client.wait_for(stamp, 1.0 / rate)
    return time.perf_counter() - start


def prepare(model: str, config: EstimateConfig, threads: int) -> None:
    """Put the node's model into the cache ($POSENET_CACHE), as a robot's image build would."""
    done = subprocess.run(
        [sys.executable, '-m', 'posenet_ros.tools.estimate', '--prepare', '--quiet', '--model',
         model, '--resolution', f'{config.input_height}x{config.input_width}', '--stride',
         str(config.output_stride), '--threads', str(threads)],
        capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RosBenchError(f'posenet_estimate --prepare failed: {done.stderr[-2000:]}')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='posenet_bench_startup',
                                     description=__doc__.split('\n\n')[0])
    parser.add_argument('--model', default='mobilenet_quant2_075')
    parser.add_argument('--resolution', default='353x481', help='HxW (default %(default)s)')
    parser.add_argument('--stride', type=int, default=16)
    parser.add_argument('--threads', type=int, default=0, help='num_threads (0: all cores)')
    parser.add_argument('--seconds', type=float, default=10.0, help='steady state (default 10)')
    parser.add_argument('--rate', type=float, default=10.0, help='frames per second (10)')
    parser.add_argument('--photo', type=Path, default=None,
                        help='frame to send (default: a 640x480 COCO photo of <shared>/data)')
    parser.add_argument('--caches', default='cold,warm',
                        help='runs in order: cold, warm, before, int8-cold, int8-warm (default '
                             '%(default)s)')
    parser.add_argument('--before-root', default=None,
                        help="the folder holding another checkout's posenet_ros package, run "
                             "for 'before'")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.resolution.split('x'))
    config = EstimateConfig(output_stride=args.stride, input_height=height, input_width=width)
    photo = args.photo or shared_dir() / 'data' / 'smoke' / 'coco_val2017_000000005001.jpg'
    frame = rgb_to_image_msg(load_image_rgb(photo))
    model = str(resolve_model(args.model))  # the weights by path: the node's cache is its own
    cache = Path(tempfile.mkdtemp(prefix='posenet_startup_cache_'))
    previous = os.environ.get('POSENET_CACHE')
    os.environ['POSENET_CACHE'] = str(cache)
    rows = []
    try:
        labels = args.caches.split(',')
        if 'before' in labels and not args.before_root:
            raise RosBenchError("'before' needs --before-root")
        for label in labels:
            if label == 'cold':
                shutil.rmtree(cache / 'tflite', ignore_errors=True)
            elif label in ('warm', 'int8-cold', 'int8-warm'):
                prepare(model, config, args.threads)
            if label == 'int8-cold':
                for calibrated in (cache / 'tflite').glob('*-int8-*.tflite'):
                    calibrated.unlink()
            rows.append(measure(label, model, frame, config, args.threads, args.seconds,
                                args.rate, args.before_root if label == 'before' else None))
            print(f'{label}: done', file=sys.stderr, flush=True)
    except RosBenchError as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        if previous is None:
            os.environ.pop('POSENET_CACHE', None)
        else:
            os.environ['POSENET_CACHE'] = previous
    print(f'posenet_node {Path(model).name} {width}x{height} stride {args.stride}, '
          f'num_threads {args.threads}, frame {frame.width}x{frame.height}, '
          f'{args.seconds:g} s at {args.rate:g} Hz, {os.cpu_count()} cores, '
          f'load {os.getloadavg()[0]:.1f}')
    print('| cache | first PoseArray after start (s) | int8 from (s) | VmRSS (MiB) '
          '| RssAnon (MiB) | VmHWM (MiB) | node CPU s/frame | frames |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- |')
    for row in rows:
        int8_s = f"{row['int8_s']:.1f}" if row['int8_s'] is not None else '-'
        print(f"| {row['cache']} | {row['first_pose_s']:.2f} | {int8_s} | {row['VmRSS']:.0f} | "
              f"{row['RssAnon']:.0f} | {row['VmHWM']:.0f} | {row['cpu_s_per_frame']:.3f} | "
              f"{row['frames']} |")
    return 0


if __name__ == '__main__':
    sys.exit(main())
