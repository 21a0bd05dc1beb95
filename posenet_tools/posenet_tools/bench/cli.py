"""posenet-bench: how fast each stage of posenet_ros runs, per configuration, beside the original.

For every model x output stride x input size x decoding x inference path it times, on the same
photos, after warm-up: the conversion of a ROS image message to pixels, preprocessing,
inference, pose decoding, the building of the PoseArray message, the estimate call and the whole
in-process pipeline (message in -> message out). In the same run the original tfjs PoseNet 2.2.2
(Node.js, wasm backend, same weights and photos; `tools/tfjs_reference`) is timed on the same
configuration, and our speed is given as a ratio to it. Medians and 90th percentiles.

    posenet-bench --quick                          # one small configuration: a smoke test
    posenet-bench --out docs/benchmarks/NAME       # the whole grid: NAME.json, NAME.md, plots
    posenet-bench --accuracy ...                   # also COCO AP per configuration (AP vs FPS)

Timings vary with the machine and its load: the table records the CPU, core count and load.
"""
from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.image_io import InputReadError, load_image_rgb
from posenet_ros.tools.tfjs_reference import (
    TfjsReference, TfjsReferenceError, multiplier_from_model_name, parse_resolution,
    resolution_label, shared_dir, write_file_atomic)

DEFAULT_MODELS = ('mobilenet_float_050', 'mobilenet_quant2_075')
DEFAULT_STRIDES = (8, 16)
DEFAULT_RESOLUTIONS = ('257', '353x481', '641x641')
DEFAULT_MODES = ('single', 'multi')
# Multi-pose settings of the library's camera demo (those of the original's quoted figures).
MULTI_SETTINGS = {'max_pose_detections': 10, 'score_threshold': 0.1, 'nms_radius': 30.0}

# Stages in pipeline order; 'estimate' is the estimator call, 'pipeline' the whole in-process
# path from the image message to the PoseArray message.
STAGES = ('ros_image', 'preprocess', 'inference', 'decode', 'message', 'estimate', 'pipeline')
STAGE_TITLES = {'ros_image': 'ROS image', 'preprocess': 'preproc', 'inference': 'inference',
                'decode': 'decode', 'message': 'message', 'estimate': 'estimate',
                'pipeline': 'pipeline'}


@dataclass(frozen=True)
class BenchCase:
    """One configuration of the grid (independent of the inference path)."""

    model: str
    stride: int
    height: int
    width: int
    mode: str

    @property
    def resolution(self) -> str:
        return resolution_label(self.height, self.width)

    @property
    def label(self) -> str:
        return f'{self.model} s{self.stride} r{self.resolution} {self.mode}'

    def config(self) -> EstimateConfig:
        extra = MULTI_SETTINGS if self.mode == 'multi' else {}
        return EstimateConfig(output_stride=self.stride, input_height=self.height,
                              input_width=self.width, decoding=self.mode, **extra)


def stats(samples) -> dict:
    """Median, 90th percentile, min and count of timings in ms (NaN-free)."""
    values = np.asarray([s for s in samples if s is not None and np.isfinite(s)], dtype=np.float64)
    if values.size == 0:
        return {'median': None, 'p90': None, 'min': None, 'n': 0}
    return {'median': float(np.median(values)), 'p90': float(np.percentile(values, 90)),
            'min': float(values.min()), 'n': int(values.size)}


def build_grid(models, strides, resolutions, modes) -> list[BenchCase]:
    cases = []
    for model in models:
        for stride in strides:
            for resolution in resolutions:
                height, width = parse_resolution(resolution)
                for mode in modes:
                    cases.append(BenchCase(model, int(stride), height, width, mode))
    return cases


# -- the ROS ends of the pipeline -----------------------------------------------------------

class RosStages:
    """Image message -> pixels and EstimateResult -> PoseArray, as the node does them.

    Uses the node's own conversion code; unavailable (and those columns empty) where rclpy or
    the built posenet_msgs cannot be imported.
    """

    def __init__(self, encoding: str = 'bgr8'):
        self.encoding = encoding
        self.error = None
        try:
            from std_msgs.msg import Header

            from posenet_ros.ros.image_conversion import image_to_rgb, rgb_to_image_msg
            from posenet_ros.ros.messages import to_pose_array
        except Exception as error:  # ImportError, or a message package not built/sourced
            self.error = f'{type(error).__name__}: {error}'
            return
        self._header = Header
        self.image_to_rgb = image_to_rgb
        self.rgb_to_image_msg = rgb_to_image_msg
        self.to_pose_array = to_pose_array

    @property
    def available(self) -> bool:
        return self.error is None

    def image_message(self, rgb: np.ndarray):
        header = self._header(frame_id='camera')
        return self.rgb_to_image_msg(rgb, header=header, encoding=self.encoding)


# -- timing our engine ----------------------------------------------------------------------

def time_case(estimator, config: EstimateConfig, photos, repeat: int, ros: RosStages | None,
              messages=None) -> dict[str, list[float]]:
    """Per-stage timings (ms) of `repeat` passes over the photos, after one untimed pass."""
    samples = {stage: [] for stage in STAGES}
    use_ros = ros is not None and ros.available
    if use_ros and messages is None:
        messages = [ros.image_message(photo) for photo in photos]
    estimator.warmup(config)
    for index, photo in enumerate(photos):  # every photo size once: shapes traced, caches warm
        result = estimator.estimate(photo, config)
        if use_ros:
            ros.to_pose_array(result, messages[index].header)
    for _ in range(repeat):
        for index, photo in enumerate(photos):
            start = time.perf_counter()
            if use_ros:
                rgb = ros.image_to_rgb(messages[index])
                converted = time.perf_counter()
            else:
                rgb, converted = photo, start
            before_estimate = time.perf_counter()
            result = estimator.estimate(rgb, config)
            estimated = time.perf_counter()
            if use_ros:
                ros.to_pose_array(result, messages[index].header)
            end = time.perf_counter()
            timings = result.timings_ms or {}
            samples['ros_image'].append((converted - start) * 1e3 if use_ros else None)
            for stage in ('preprocess', 'inference', 'decode'):
                samples[stage].append(timings.get(stage))
            samples['message'].append((end - estimated) * 1e3 if use_ros else None)
            samples['estimate'].append((estimated - before_estimate) * 1e3)
            samples['pipeline'].append((end - start) * 1e3)
    return samples


def available_backends() -> list[str]:
    """The engine's compiled inference paths, its default first (eager, for debugging, left out).

    XLA is left out on a CPU too: there it is 5-20x slower than the other paths and would make
    the full grid take hours; time it at one configuration with `--backends xla`.
    """
    from posenet_ros.engine.network import BACKENDS, default_backend, resolve_device
    device = resolve_device('auto')
    default = default_backend(device)
    skipped = ('eager', default) if 'GPU' in device else ('eager', 'xla', default)
    return [default] + [name for name in BACKENDS if name not in skipped]


def make_estimator(model: str, backend: str | None):
    from posenet_ros.engine.estimator import PoseEstimator
    return PoseEstimator(model) if backend is None else PoseEstimator(model, backend=backend)


# -- the original -----------------------------------------------------------------------------

def _original_settings(case: BenchCase) -> dict:
    """ref.js options for the case's decoding (the library's names)."""
    if case.mode != 'multi':
        return {}
    return {'max_detections': MULTI_SETTINGS['max_pose_detections'],
            'score_threshold': MULTI_SETTINGS['score_threshold'],
            'nms_radius': MULTI_SETTINGS['nms_radius']}


def model_folder(model: str) -> Path:
    """The weights folder of a model name or path, as the estimator resolves it."""
    from posenet_ros.engine.model_store import resolve_model
    path = Path(resolve_model(model))
    return path if path.is_dir() else path.parent


def time_original(runner: TfjsReference, case: BenchCase, photo_paths, repeat: int) -> dict:
    """The original's estimate-call times (ms) for this configuration, or the reason it failed."""
    try:
        run = runner.run(model_folder(case.model), photo_paths, stride=case.stride,
                         resolution=case.resolution,
                         mode=case.mode, repeat=repeat, **_original_settings(case))
    except Exception as error:  # no Node.js, no graph model, ref.js failed: say why, go on
        return {'error': _reason(error), 'samples': []}
    return {'error': None, 'samples': run.times_ms}


# -- accuracy ---------------------------------------------------------------------------------

def case_accuracy(estimator, case: BenchCase, ground_truth, images, runner=None) -> dict:
    """COCO keypoint AP of ours and of the original (stored reference, or a Node.js run)."""
    from posenet_ros.tools import eval as coco_eval
    config = case.config()
    config.check(estimator.multiplier)
    data = coco_eval.run_estimator(estimator, config.snapped(), images, progress=False)
    ours = coco_eval.evaluate_results(data, ground_truth)[0].ap
    original = coco_eval.original_ap(data['config'], None, ground_truth)
    if original is None and runner is not None:
        try:
            run = runner.run(model_folder(case.model), [p for _, p in images], stride=case.stride,
                             resolution=case.resolution, mode=case.mode, repeat=1,
                             **_original_settings(case))
            original = coco_eval.evaluate_results(run.as_reference_json(), ground_truth)[0].ap
        except (TfjsReferenceError, ValueError, subprocess.SubprocessError):
            original = None
    return {'ap': ours, 'original_ap': original}


# -- the run ----------------------------------------------------------------------------------

def machine_info() -> dict:
    cpu = platform.processor() or ''
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    info = {'cpu': cpu, 'cores': os.cpu_count(), 'python': platform.python_version(),
            'platform': platform.platform()}
    try:
        import tensorflow as tf
        info['tensorflow'] = tf.__version__
    except ImportError:
        pass
    info['numpy'] = np.__version__
    return info


def load_average() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


@dataclass
class BenchOptions:
    """What to measure besides the in-process stages."""

    repeat: int = 5                  # timed passes over the photos, per configuration
    original: bool = True            # time tfjs PoseNet (Node.js, wasm) too
    original_repeat: int | None = None
    accuracy: bool = False           # COCO AP per configuration
    ros: bool = False                # frame latency through posenet_node over DDS (first path)
    ros_repeat: int | None = None
    camera_rates: tuple[float, ...] = (30.0, 100.0)
    camera_seconds: float = 60.0
    camera_case: BenchCase = BenchCase('mobilenet_quant2_075', 16, 353, 481, 'multi')
    image_reliability: str | None = None  # the node's image subscription; None: its default


def run_bench(cases, backends, photo_paths, options: BenchOptions, log=print) -> dict:
    """Time the grid; a JSON-ready dict: meta, one row per (case, inference path), camera runs."""
    from posenet_ros.engine import estimator as _  # noqa: F401  (missing engine: fail here)
    photos = [load_image_rgb(path) for path in photo_paths]
    ros = RosStages()
    if not ros.available:
        log(f'note: ROS stages not timed ({ros.error})')
    messages = [ros.image_message(p) for p in photos] if ros.available else None
    repeat = options.repeat
    meta = {'date': datetime.datetime.now().astimezone().isoformat(timespec='seconds'),
            'command': 'posenet-bench ' + ' '.join(shlex.quote(a) for a in sys.argv[1:]),
            'machine': machine_info(), 'load_average_start': load_average(),
            'photos': [Path(p).name for p in photo_paths],
            'repeat': repeat, 'samples_per_config': repeat * len(photos),
            'ros_stages': ros.available, 'ros_image_encoding': ros.encoding,
            'multi_settings': MULTI_SETTINGS}
    runner = TfjsReference() if options.original else None
    ground_truth = images = None
    if options.accuracy:
        from posenet_ros.tools import eval as coco_eval
        annotations = coco_eval.default_annotations()
        ground_truth = coco_eval.load_annotations(annotations)
        images = coco_eval.annotated_images(ground_truth, annotations.parent / 'images')
        meta['accuracy_annotations'] = annotations.name
    use_ros = options.ros and ros.available
    if options.ros and not ros.available:
        log(f'note: no ROS end-to-end timing ({ros.error})')
    if use_ros:
        meta['dds'] = dds_description(options.image_reliability)

    rows = []
    originals: dict[BenchCase, dict] = {}
    for model in dict.fromkeys(case.model for case in cases):
        model_cases = [case for case in cases if case.model == model]
        for backend_index, backend in enumerate(backends):
            try:
                estimator = make_estimator(model, backend)
            except Exception as error:  # a path that does not serve this model: say why
                for case in model_cases:
                    rows.append(_row(case, backend or 'default', None, error=_reason(error)))
                log(f'{model} [{backend or "default path"}]: not available: '
                    f'{type(error).__name__}: {error}')
                continue
            backend_name = getattr(estimator, 'backend', backend)
            new_rows = []
            for case in model_cases:
                config = case.config()
                try:
                    config.check(estimator.multiplier)
                    samples = time_case(estimator, config.snapped(), photos, repeat,
                                        ros, messages)
                except Exception as error:  # e.g. a fixed-size TFLite model at another size
                    rows.append(_row(case, backend_name, None, error=_reason(error)))
                    log(f'{case.label} [{backend_name}]: not available: {_reason(error)}')
                    continue
                row = _row(case, backend_name, samples)
                if options.accuracy and backend_index == 0:
                    row.update(case_accuracy(estimator, case, ground_truth, images, runner))
                new_rows.append(row)
                log(_progress_line(row))
                if options.original and case not in originals:
                    # Right after ours, so both see the same load on a shared machine.
                    originals[case] = _time_and_log_original(runner, case, photo_paths,
                                                             options, log)
            del estimator
            gc.collect()
            if use_ros and new_rows and backend_index == 0:  # the node's path: the first
                time_through_ros(model, backend_name, new_rows, messages, options, log)
            rows += new_rows
    if options.original:
        for case in cases:
            if case not in originals:
                originals[case] = _time_and_log_original(runner, case, photo_paths, options, log)
            summary = originals[case]
            for row in rows:
                if _case_of(row) == case:
                    row['original'] = summary
                    for key, ours in (('speedup', _median(row, 'pipeline')),
                                      ('speedup_ros', (row.get('ros') or {}).get('median'))):
                        if ours and summary['median']:
                            row[key] = summary['median'] / ours
        meta['original'] = ('@tensorflow-models/posenet 2.2.2 on @tensorflow/tfjs-core 3.21.0, '
                            'wasm backend (Node.js ' + _node_version() + ')')
    report = {'meta': meta, 'rows': rows}
    if use_ros and options.camera_rates and options.camera_seconds > 0:
        report['camera'] = camera_rate_run(photos[0], options, log)
    meta['load_average_end'] = load_average()
    return report


def _time_and_log_original(runner, case: BenchCase, photo_paths, options: BenchOptions,
                           log) -> dict:
    original = time_original(runner, case, photo_paths, options.original_repeat or options.repeat)
    summary = {**stats(original['samples']), 'error': original['error']}
    log(f'{case.label} [original, wasm]: '
        + (f"median {summary['median']:.1f} ms" if summary['median'] else original['error']))
    return summary


def _median(row: dict, stage: str):
    return row.get('stages', {}).get(stage, {}).get('median')


def dds_description(image_reliability: str | None) -> dict:
    """What DDS setup the ROS figures were taken with (it matters for large images)."""
    return {'rmw': os.environ.get('RMW_IMPLEMENTATION') or 'default (rmw_fastrtps_cpp)',
            'FASTDDS_BUILTIN_TRANSPORTS': os.environ.get('FASTDDS_BUILTIN_TRANSPORTS'),
            'image_subscription_reliability': image_reliability or "node default (best effort)"}


def time_through_ros(model: str, backend: str | None, rows: list[dict], messages,
                     options: BenchOptions, log) -> None:
    """Add each row's frame latency through posenet_node (one node, configs set live)."""
    from posenet_ros.tools.ros_bench import RosBenchError, RosSession, measure_latency
    first = _case_of(rows[0]).config()
    try:
        with RosSession(model, backend, first.snapped(), options.image_reliability) as session:
            for row in rows:
                case = _case_of(row)
                result = measure_latency(session.client, session.node, messages,
                                         case.config().snapped(),
                                         options.ros_repeat or options.repeat)
                row['ros'] = {**stats(result['samples']), 'lost': result['lost']}
                row['samples_ms']['ros'] = [round(v, 3) for v in result['samples']]
                log(f"{case.label} [{backend}] through ROS: median "
                    f"{row['ros']['median']:.1f} ms, p90 {row['ros']['p90']:.1f} ms"
                    + (f", {result['lost']} lost" if result['lost'] else ''))
    except RosBenchError as error:
        log(f'{model} [{backend}]: ROS timing failed: {error}')
        for row in rows:
            row.setdefault('ros', {'median': None, 'error': _reason(error)})


def camera_rate_run(photo: np.ndarray, options: BenchOptions, log) -> dict:
    """posenet_node fed at camera rates: ages, drops, throughput, memory (one config)."""
    import cv2

    from posenet_ros.ros.image_conversion import rgb_to_image_msg
    from posenet_ros.tools.ros_bench import (
        RosBenchError, RosSession, measure_camera_rate, measure_latency)
    case = options.camera_case
    config = case.config().snapped()
    frame = rgb_to_image_msg(cv2.resize(photo, (640, 480), interpolation=cv2.INTER_AREA),
                             encoding='bgr8')
    result = {'config': case.label, 'frame': '640x480 bgr8', 'runs': []}
    try:
        with RosSession(case.model, None, config, options.image_reliability) as session:
            result['backend'] = 'default'
            single = measure_latency(session.client, session.node, [frame], config,
                                     repeat=max(20, options.repeat * 4))
            result['latency'] = stats(single['samples'])
            log(f"camera frame latency through ROS ({case.label}): median "
                f"{result['latency']['median']:.1f} ms")
            for rate in options.camera_rates:
                run = measure_camera_rate(session.client, session.node, frame, config, rate,
                                          options.camera_seconds)
                if result['latency']['median']:
                    run['p99_age_over_latency'] = run['age_p99_ms'] / result['latency']['median']
                if run['rss_start_mib'] is not None and run['rss_end_mib'] is not None:
                    run['rss_growth_mib'] = run['rss_end_mib'] - run['rss_start_mib']
                result['runs'].append(run)
                log(f"camera {rate:g} Hz for {run['duration_s']:g} s: age p50 "
                    f"{run['age_p50_ms']:.1f} ms, p99 {run['age_p99_ms']:.1f} ms, "
                    f"{run['processed_per_s']:.1f} frames/s processed, {run['dropped']} of "
                    f"{run['published']} dropped, RSS {run['rss_start_mib']:.0f} -> "
                    f"{run['rss_end_mib']:.0f} MiB")
    except RosBenchError as error:
        result['error'] = _reason(error)
        log(f'camera-rate run failed: {error}')
    return result


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f'{type(error).__name__}: {text[0] if text else ""}'


def _node_version() -> str:
    try:
        return subprocess.run(['node', '--version'], capture_output=True, text=True,
                              timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return '?'


def _row(case: BenchCase, backend, samples, error=None) -> dict:
    row = {'model': case.model, 'multiplier': multiplier_from_model_name(Path(case.model).name),
           'stride': case.stride, 'height': case.height, 'width': case.width,
           'resolution': case.resolution, 'mode': case.mode, 'backend': backend, 'error': error}
    if samples is not None:
        row['stages'] = {stage: stats(values) for stage, values in samples.items()}
        row['samples_ms'] = {stage: [round(v, 3) for v in values if v is not None]
                             for stage, values in samples.items()}
    return row


def _case_of(row: dict) -> BenchCase:
    return BenchCase(row['model'], row['stride'], row['height'], row['width'], row['mode'])


def _progress_line(row: dict) -> str:
    stages = row['stages']
    parts = [f"{STAGE_TITLES[s]} {stages[s]['median']:.1f}" for s in STAGES
             if stages[s]['median'] is not None]
    line = f"{_case_of(row).label} [{row['backend']}]: " + ', '.join(parts) + ' ms (medians)'
    if 'ap' in row:
        line += f"; AP {row['ap']:.3f}"
    return line


# -- reports ----------------------------------------------------------------------------------

def _ms(stat: dict | None) -> str:
    if not stat or stat.get('median') is None:
        return '-'
    return f"{stat['median']:.1f} / {stat['p90']:.1f}"


def to_markdown(report: dict) -> str:
    """A Markdown page: how it was measured, one table row per configuration and path, then the
    camera-rate runs."""
    meta = report['meta']
    machine = meta['machine']
    lines = ['# posenet_ros benchmark', '',
             f"{meta['date']}, `{meta['command']}`", '',
             f"Machine: {machine.get('cpu') or '?'}, {machine.get('cores')} cores; TensorFlow "
             f"{machine.get('tensorflow', '?')}, Python {machine.get('python')}. Load average "
             f"{meta.get('load_average_start')} at start, {meta.get('load_average_end')} at end.",
             '',
             f"{meta['samples_per_config']} timed runs per configuration ({len(meta['photos'])} "
             f"photos x {meta['repeat']}) after warm-up; cells are median / 90th percentile in ms. "
             f"Multi-pose decoding uses max {MULTI_SETTINGS['max_pose_detections']}, score "
             f"{MULTI_SETTINGS['score_threshold']}, NMS radius {MULTI_SETTINGS['nms_radius']:g}. "
             "'pipeline' is the in-process path from the image message "
             f"({meta['ros_image_encoding']}) to the PoseArray message. 'ROS' (first inference "
             'path only) is publish-to-receive time through posenet_node in another process '
             'over DDS, one frame at a time. '
             "'x faster' is the original's median estimate time over our median (pipeline; ROS).",
             '']
    if meta.get('dds'):
        dds = meta['dds']
        lines += [f"DDS: {dds['rmw']}, FASTDDS_BUILTIN_TRANSPORTS="
                  f"{dds['FASTDDS_BUILTIN_TRANSPORTS'] or 'unset'}, image subscription "
                  f"{dds['image_subscription_reliability']}.", '']
    if meta.get('original'):
        lines += [f"Original: {meta['original']}, same weights, photos and configuration; "
                  'stride 8 with the dilations as trained.', '']
    has_ap = any('ap' in row for row in report['rows'])
    has_ros = any('ros' in row for row in report['rows'])
    header = ['model', 'stride', 'input', 'decoding', 'path'] + [STAGE_TITLES[s] for s in STAGES]
    header += (['ROS'] if has_ros else []) + ['original', 'x faster']
    if has_ap:
        header += ['AP', 'original AP']
    lines += ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row in report['rows']:
        cells = [row['model'], str(row['stride']), row['resolution'], row['mode'],
                 str(row['backend'])]
        if row.get('error'):
            cells += [f"n/a: {row['error']}"] + [''] * (len(header) - len(cells) - 1)
        else:
            cells += [_ms(row['stages'][s]) for s in STAGES]
            if has_ros:
                cells.append(_ms(row.get('ros')))
            original = row.get('original')
            cells.append(_ms(original) if original and not original.get('error')
                         else ('-' if not original else 'failed'))
            ratios = [f"{row[k]:.1f}x" for k in ('speedup', 'speedup_ros') if row.get(k)]
            cells.append('; '.join(ratios) or '-')
            if has_ap:
                cells.append(f"{row['ap']:.3f}" if row.get('ap') is not None else '-')
                cells.append(f"{row['original_ap']:.3f}" if row.get('original_ap') is not None
                             else '-')
        lines.append('| ' + ' | '.join(c.replace('|', '/') for c in cells) + ' |')
    camera = report.get('camera')
    if camera:
        lines += ['', '## Under a camera rate', '',
                  f"posenet_node ({camera['config']}, {camera.get('backend', 'default')} path) fed "
                  f"{camera['frame']} frames at a fixed rate; age = now - header.stamp when the "
                  'PoseArray arrives; the node processes only the newest frame, the others count '
                  'as dropped. RSS: the node process, after warm-up and at the end.', '']
        if camera.get('error'):
            lines.append(f"Failed: {camera['error']}")
        else:
            lines += [f"Single-frame latency through ROS: {_ms(camera.get('latency'))} ms.", '',
                      '| rate | seconds | published | processed/s | dropped | age p50 | age p99 '
                      '| p99 / latency | RSS start | RSS end | RSS peak |',
                      '|' + '---|' * 11]
            for run in camera['runs']:
                ratio = run.get('p99_age_over_latency')
                lines.append(
                    f"| {run['rate_hz']:g} Hz | {run['duration_s']:g} | {run['published']} | "
                    f"{run['processed_per_s']:.1f} | {run['dropped']} | {run['age_p50_ms']:.1f} | "
                    f"{run['age_p99_ms']:.1f} | {f'{ratio:.2f}' if ratio else '-'} | "
                    f"{_mib(run['rss_start_mib'])} | {_mib(run['rss_end_mib'])} | "
                    f"{_mib(run['rss_peak_mib'])} |")
    return '\n'.join(lines) + '\n'


def _mib(value) -> str:
    return f'{value:.0f} MiB' if value is not None else '-'


def to_text_table(report: dict) -> str:
    """A compact console table: estimate, pipeline and ROS median / p90, the original, ratios."""
    lines = [f"{'configuration':<44} {'path':<9} {'estimate':>13} {'pipeline':>13} {'ROS':>13} "
             f"{'original':>9} {'x faster':>12}"]
    for row in report['rows']:
        label = _case_of(row).label
        if row.get('error'):
            lines.append(f"{label:<44} {str(row['backend']):<9} n/a: {row['error'][:70]}")
            continue
        original = row.get('original') or {}
        orig = f"{original['median']:9.1f}" if original.get('median') else f"{'-':>9}"
        ratio = '; '.join(f'{row[k]:.1f}x' for k in ('speedup', 'speedup_ros') if row.get(k))
        lines.append(f"{label:<44} {str(row['backend']):<9} {_ms(row['stages']['estimate']):>13} "
                     f"{_ms(row['stages']['pipeline']):>13} {_ms(row.get('ros')):>13} {orig} "
                     f"{ratio or '-':>12}")
    camera = report.get('camera')
    if camera and not camera.get('error'):
        lines.append(f"camera ({camera['config']}, {camera['frame']}): single-frame latency "
                     f"{_ms(camera.get('latency'))} ms")
        for run in camera['runs']:
            lines.append(
                f"  {run['rate_hz']:g} Hz: age p50 {run['age_p50_ms']:.1f} / p99 "
                f"{run['age_p99_ms']:.1f} ms, {run['processed_per_s']:.1f} frames/s, "
                f"{run['dropped']}/{run['published']} dropped, RSS {_mib(run['rss_start_mib'])} -> "
                f"{_mib(run['rss_end_mib'])}")
    elif camera:
        lines.append(f"camera-rate run failed: {camera['error']}")
    return '\n'.join(lines)


def plot_speed(report: dict, path: Path) -> None:
    """Median pipeline time by input size, one panel per model x inference path, original dashed."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    rows = [r for r in report['rows'] if not r.get('error')]
    models = list(dict.fromkeys(r['model'] for r in rows))
    backends = list(dict.fromkeys(str(r['backend']) for r in rows))
    if not rows:
        return
    resolutions = list(dict.fromkeys(r['resolution'] for r in rows))
    series = list(dict.fromkeys((r['stride'], r['mode']) for r in rows))
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
    fig, axes = plt.subplots(len(models), len(backends), squeeze=False, sharey=True,
                             figsize=(4.2 * len(backends), 3.4 * len(models)))
    for i, model in enumerate(models):
        for j, backend in enumerate(backends):
            ax = axes[i][j]
            for k, (stride, mode) in enumerate(series):
                pick = {r['resolution']: r for r in rows if r['model'] == model
                        and str(r['backend']) == backend and r['stride'] == stride
                        and r['mode'] == mode}
                xs = [n for n, res in enumerate(resolutions) if res in pick]
                if not xs:
                    continue
                color = colors[k % len(colors)]
                ax.plot(xs, [pick[resolutions[n]]['stages']['pipeline']['median'] for n in xs],
                        'o-', color=color, label=f's{stride} {mode}')
                original = [(n, (pick[resolutions[n]].get('original') or {}).get('median'))
                            for n in xs]
                original = [(n, v) for n, v in original if v]
                if original:
                    ax.plot(*zip(*original), 'x--', color=color, alpha=0.6,
                            label=f's{stride} {mode} (original)')
            ax.set_title(f'{model} [{backend}]', fontsize=9)
            ax.set_xticks(range(len(resolutions)), resolutions)
            ax.set_yscale('log')
            ax.grid(True, which='both', alpha=0.3)
            if j == 0:
                ax.set_ylabel('ms per frame (median)')
            ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    handles = {}
    for ax in axes.flat:  # one legend for all panels, below them
        for handle, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    fig.legend(list(handles.values()), list(handles), loc='lower center', fontsize=7,
               ncol=min(4, len(handles)), frameon=False)
    fig.suptitle('posenet_ros pipeline time vs the original (tfjs wasm, dashed)', fontsize=10)
    rows_of_legend = -(-len(handles) // 4)
    fig.tight_layout(rect=(0, 0.04 * rows_of_legend + 0.02, 1, 1))
    _save_figure(fig, path)
    plt.close(fig)


def plot_ap_vs_fps(report: dict, path: Path) -> bool:
    """COCO AP against frames per second, ours and the original's. False if no AP was measured."""
    rows = [r for r in report['rows'] if not r.get('error') and r.get('ap') is not None]
    if not rows:
        return False
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for row in rows:
        label = f"{row['multiplier']:.2f} s{row['stride']} {row['resolution']} {row['mode']}"
        fps = 1000.0 / row['stages']['pipeline']['median']
        ax.scatter(fps, row['ap'], color='tab:blue')
        ax.annotate(label, (fps, row['ap']), fontsize=6, xytext=(3, 2), textcoords='offset points')
        original = row.get('original') or {}
        if original.get('median') and row.get('original_ap') is not None:
            orig_fps = 1000.0 / original['median']
            ax.scatter(orig_fps, row['original_ap'], color='tab:orange', marker='x')
            ax.plot([orig_fps, fps], [row['original_ap'], row['ap']], color='grey', lw=0.5)
    ax.scatter([], [], color='tab:blue', label='posenet_ros')
    ax.scatter([], [], color='tab:orange', marker='x', label='original (tfjs wasm)')
    ax.set_xscale('log')
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel('frames per second (1 / median time)')
    ax.set_ylabel('COCO keypoint AP')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save_figure(fig, path)
    plt.close(fig)
    return True


def _save_figure(fig, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name('.' + path.name + '.tmp' + path.suffix)
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, path)


def write_report(report: dict, out_stem: Path, plots: bool = True) -> list[Path]:
    """NAME.json, NAME.md and (with plots) NAME_speed.png, NAME_ap_fps.png; atomically."""
    written = []
    json_path = out_stem.with_name(out_stem.name + '.json')
    write_file_atomic(json_path, json.dumps(report, indent=1).encode())
    written.append(json_path)
    md_path = out_stem.with_name(out_stem.name + '.md')
    write_file_atomic(md_path, to_markdown(report).encode())
    written.append(md_path)
    if plots:
        speed = out_stem.with_name(out_stem.name + '_speed.png')
        plot_speed(report, speed)
        written.append(speed)
        ap_fps = out_stem.with_name(out_stem.name + '_ap_fps.png')
        if plot_ap_vs_fps(report, ap_fps):
            written.append(ap_fps)
    return written


# -- command line -----------------------------------------------------------------------------

def _csv(text: str) -> list[str]:
    return [item.strip() for item in text.split(',') if item.strip()]


# What a full run and a --quick smoke run measure, unless given on the command line.
FULL_RUN = {'models': list(DEFAULT_MODELS), 'strides': [str(s) for s in DEFAULT_STRIDES],
            'resolutions': list(DEFAULT_RESOLUTIONS), 'modes': list(DEFAULT_MODES),
            'backends': None, 'repeat': 5, 'original': True, 'ros': True, 'photos': None}
QUICK_RUN = {'models': ['mobilenet_quant2_075'], 'strides': ['16'], 'resolutions': ['257'],
             'modes': ['single', 'multi'], 'backends': ['default'], 'repeat': 2,
             'original': False, 'ros': False, 'photos': 2}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='posenet-bench',
        description='Per-stage timing of posenet_ros over a configuration grid, beside the '
                    'original tfjs PoseNet (Node.js, wasm).')
    parser.add_argument('--quick', action='store_true',
                        help='smoke run: 0.75, stride 16, 257, single and multi, default path, '
                             '2 photos x 2, no original (options given still apply)')
    parser.add_argument('--models', type=_csv,
                        help=f"comma-separated model names or folders ({','.join(DEFAULT_MODELS)})")
    parser.add_argument('--strides', type=_csv,
                        help=f"comma-separated ({','.join(map(str, DEFAULT_STRIDES))})")
    parser.add_argument('--resolutions', type=_csv,
                        help=f"comma-separated N or HxW ({','.join(DEFAULT_RESOLUTIONS)})")
    parser.add_argument('--modes', type=_csv, help=f"comma-separated ({','.join(DEFAULT_MODES)})")
    parser.add_argument('--backends', type=_csv,
                        help="inference paths (default: every compiled one the engine offers, but "
                             "XLA on a CPU; 'default' for the estimator's default)")
    parser.add_argument('--images', type=Path, nargs='+',
                        help='photos (default: the 6 of <shared>/data/smoke)')
    parser.add_argument('--repeat', type=int, help='timed passes over the photos (5)')
    parser.add_argument('--original', action=argparse.BooleanOptionalAction,
                        help='time the original through Node.js too (default: yes, except '
                             'with --quick)')
    parser.add_argument('--original-repeat', type=int, default=None,
                        help='runs per photo for the original (default: --repeat)')
    parser.add_argument('--ros', action=argparse.BooleanOptionalAction,
                        help='time frames through posenet_node over DDS and run it at camera '
                             'rates (default: yes, except with --quick)')
    parser.add_argument('--ros-repeat', type=int, default=None,
                        help='timed passes over the photos through ROS (default: --repeat)')
    parser.add_argument('--camera-rates', type=_csv, default=['30', '100'],
                        help="camera rates in Hz for the node ('' for none; default 30,100)")
    parser.add_argument('--camera-seconds', type=float, default=60.0,
                        help='how long each camera rate runs (default 60)')
    parser.add_argument('--camera-config', default='mobilenet_quant2_075:16:353x481:multi',
                        help='MODEL:STRIDE:RESOLUTION:MODE of the camera-rate runs '
                             '(default %(default)s)')
    parser.add_argument('--image-reliability', choices=('best_effort', 'reliable'),
                        help="override the node's image subscription QoS (default: the node's, "
                             'best effort)')
    parser.add_argument('--accuracy', action='store_true',
                        help='also COCO keypoint AP per configuration (44 photos each)')
    parser.add_argument('--out', type=Path, default=None,
                        help='write OUT.json, OUT.md and plots OUT_speed.png, OUT_ap_fps.png')
    parser.add_argument('--no-plots', dest='plots', action='store_false')
    return parser


def _parse_camera_config(text: str) -> BenchCase:
    parts = text.split(':')
    if len(parts) != 4 or not parts[1].isdigit() or parts[3] not in DEFAULT_MODES:
        raise ValueError(f'--camera-config must be MODEL:STRIDE:RESOLUTION:MODE, e.g. '
                         f'mobilenet_quant2_075:16:353x481:multi; got {text!r}')
    height, width = parse_resolution(parts[2])
    case = BenchCase(parts[0], int(parts[1]), height, width, parts[3])
    case.config().check()
    return case


def main(argv=None) -> int:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TensorFlow's start-up INFO lines
    args = _build_parser().parse_args(argv)
    defaults = QUICK_RUN if args.quick else FULL_RUN
    for name in ('models', 'strides', 'resolutions', 'modes', 'backends', 'repeat', 'original',
                 'ros'):
        if getattr(args, name) is None:
            setattr(args, name, defaults[name])
    images = args.images or sorted((shared_dir() / 'data' / 'smoke').glob('*.jpg'))
    if not args.images and defaults['photos']:
        images = images[:defaults['photos']]
    try:
        if not all(s.isdigit() for s in args.strides):
            raise ValueError(f'strides must be whole numbers (8, 16, 32), got {args.strides}')
        strides = [int(s) for s in args.strides]
        cases = build_grid(args.models, strides, args.resolutions, args.modes)
        for case in cases:
            case.config().check()
        camera_case = _parse_camera_config(args.camera_config)
        camera_rates = tuple(float(r) for r in args.camera_rates)
        if any(r <= 0 for r in camera_rates) or args.camera_seconds < 0:
            raise ValueError('camera rates and --camera-seconds must be positive')
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    missing = [p for p in images if not Path(p).is_file()]
    if not images or missing:
        shown = ', '.join(str(p) for p in missing[:3]) or 'none given'
        print(f'error: photos not found: {shown} (set POSENET_SHARED or pass --images)',
              file=sys.stderr)
        return 2
    if args.repeat < 1:
        print('error: --repeat must be at least 1', file=sys.stderr)
        return 2
    if args.backends is None:
        backends = available_backends()
    else:
        backends = [None if b == 'default' else b for b in args.backends]
    options = BenchOptions(
        repeat=args.repeat, original=args.original, original_repeat=args.original_repeat,
        accuracy=args.accuracy, ros=args.ros, ros_repeat=args.ros_repeat,
        camera_rates=camera_rates, camera_seconds=args.camera_seconds, camera_case=camera_case,
        image_reliability=args.image_reliability)
    try:
        report = run_bench(cases, backends, images, options,
                           log=lambda line: print(line, file=sys.stderr, flush=True))
    except (InputReadError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    print(to_text_table(report))
    if args.out:
        for path in write_report(report, args.out, plots=args.plots):
            print(f'wrote {path}')
    if all(row.get('error') for row in report['rows']):
        print('error: no configuration could be measured (reasons above)', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
