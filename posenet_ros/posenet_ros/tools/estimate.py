"""
posenet_estimate: poses of the people in photos, folders of photos or videos, as JSON.

    posenet_estimate photos/ --json poses.json --draw annotated/
    posenet_estimate clip.mp4 --mode single --resolution 353x481 --json clip.json
    posenet_estimate --prepare --resolution 353x481   # fill the model cache (an image build)

The JSON follows the schema of the original's reference outputs (see `engine/results_json.py`),
so `posenet_parity` and `posenet_eval` (package posenet_tools) read both. Defaults are those of
tfjs-models posenet 2.x: MobileNetV1 0.75, stride 16, 257x257, multi-person, at most 5 people,
root score 0.5, NMS radius 20. Unreadable inputs are skipped with a message and make the exit
status 1; bad options (an unusable --json path among them) exit with status 2 before any work.

Result ids: a photo's file stem (an int when all digits); a video's frame index when the video
is the only input; "<video stem>/<frame index>" for video frames when several inputs are given,
so that ids stay unique across videos.
"""
from __future__ import annotations

import argparse
import io
import os
from pathlib import Path
import sys
import tempfile
import time

from posenet_ros.engine import resolution
from posenet_ros.engine.atomic_write import write_file_atomic
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.heap import reuse_frame_memory
from posenet_ros.engine.image_io import expand_inputs, Frame, InputReadError, is_video, iter_frames
from posenet_ros.engine.opencv_pool import limit_opencv_threads, sleep_idle_workers
from posenet_ros.engine.results_json import (config_record, result_record, results_document,
                                             write_json_atomic)
from posenet_ros.tools import estimate_tracking

DEFAULT_MODEL = 'mobilenet_quant2_075'


def parse_resolution(text: str) -> tuple[int, int]:
    """'257' -> (257, 257); '353x481' -> (353, 481) as height x width."""
    try:
        return resolution.parse_resolution(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'{text!r} is not a resolution: give N (square) or HxW, e.g. 257 or 353x481'
        ) from None


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be 0 or more, got {value}')
    return value


def positive_int(text: str) -> int:
    """Return a count given on a command line; 0 or less is refused (it would do nothing)."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be at least 1, got {value}')
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='posenet_estimate', description=__doc__.split('\n\n')[0],
        epilog='Defaults are those of tfjs-models posenet 2.x. Exit status: 0 done, 1 some '
               'inputs could not be read (the others are written), 2 bad options or model.')
    parser.add_argument('inputs', nargs='*', metavar='INPUT',
                        help='photos, folders of photos, or videos (every frame is estimated)')
    parser.add_argument('--prepare', action='store_true',
                        help='only convert the TFLite model of --model, --resolution and --stride '
                             'into the cache ($POSENET_CACHE) and say where it is; no inputs. A '
                             'later run with that model needs no TensorFlow')
    model = parser.add_argument_group('model')
    model.add_argument('--model', default=DEFAULT_MODEL,
                       help='weights folder, or a model name looked up in $POSENET_MODELS, the '
                            'cache, then downloaded (e.g. mobilenet_float_050, '
                            'mobilenet_v1_075_weights; default %(default)s)')
    model.add_argument('--multiplier', type=float, default=None,
                       help='MobileNetV1 width multiplier (default: read from the weights)')
    model.add_argument('--device', default='auto', choices=('auto', 'cpu', 'gpu'),
                       help='where TensorFlow runs the network (default: auto, a GPU if any)')
    model.add_argument('--backend', default=None,
                       help="inference path ('function', 'xla', 'tflite', 'eager'; default: the "
                            "estimator's fastest)")
    model.add_argument('--threads', '--num-threads', dest='threads', type=_non_negative_int,
                       default=0, metavar='N',
                       help='threads inference may use (XNNPACK, TensorFlow); 0: every core '
                            '(default)')
    model.add_argument('--precision', choices=('float32', 'int8'), default='float32',
                       help="float32: the original's results; int8: TFLite, about twice as fast, "
                            'AP within 0.01 (docs/int8.md); default %(default)s')
    model.add_argument('--calibration', type=Path, default=None, metavar='PATH',
                       help='with int8: a folder of photos or a video like the inputs (about 50 '
                            'frames are used), or a .tflite made by posenet_quantize; default: '
                            'the inputs themselves')
    run = parser.add_argument_group('estimation')
    run.add_argument('--stride', type=int, default=16, choices=(8, 16, 32),
                     help='output stride: 8 is finer and slower (default 16)')
    run.add_argument('--resolution', type=parse_resolution, default='257', metavar='N|HxW',
                     help='network input size, height x width; snapped to k*stride+1 per side '
                          '(default 257)')
    run.add_argument('--mode', choices=('single', 'multi'), default='multi',
                     help='single: one person, fastest; multi: several people (default)')
    run.add_argument('--max-detections', type=positive_int, default=5,
                     help='multi: at most this many people per image (default 5)')
    run.add_argument('--score-threshold', type=float, default=0.5,
                     help='multi: least score of the part a person is grown from (default 0.5)')
    run.add_argument('--nms-radius', type=float, default=20.0,
                     help='multi: a part closer than this to the same part of a person already '
                          'found (model-input pixels) belongs to that person (default 20)')
    run.add_argument('--flip', action='store_true',
                     help='mirror the poses horizontally (for mirrored camera views)')
    out = parser.add_argument_group('output')
    out.add_argument('--json', type=Path, default=None, metavar='OUT',
                     help='write the results here (atomically); default: standard output')
    out.add_argument('--draw', type=Path, default=None, metavar='DIR',
                     help='also save each image with its poses drawn, as DIR/<name>.jpg')
    out.add_argument('--draw-min-pose-score', type=float, default=0.0,
                     help='--draw: leave out poses scoring lower (default 0)')
    out.add_argument('--draw-min-part-score', type=float, default=0.1,
                     help='--draw: leave out keypoints scoring lower (default 0.1)')
    out.add_argument('--repeat', type=positive_int, default=1,
                     help='estimate each image N times and record every time (benchmarking)')
    out.add_argument('--quiet', action='store_true', help='no progress bar or summary')
    estimate_tracking.add_tracking_arguments(parser)
    return parser


def config_from_args(args) -> EstimateConfig:
    height, width = args.resolution
    return EstimateConfig(
        output_stride=args.stride, input_height=height, input_width=width, decoding=args.mode,
        max_pose_detections=args.max_detections, score_threshold=args.score_threshold,
        nms_radius=args.nms_radius, flip_horizontal=args.flip)


def int8_options(args, files: list[Path]) -> dict:
    """Return the estimator's precision arguments: an int8 model, or frames to calibrate on."""
    if args.precision == 'float32':
        return {}
    from posenet_ros.engine.int8_backend import read_calibration_images
    source = args.calibration
    if source is not None and source.suffix == '.tflite':
        try:
            return {'precision': 'int8', 'int8_models': [source.read_bytes()]}
        except OSError as error:
            raise ValueError(f'cannot read {source}: {error.strerror}') from None
    if source is None:
        # Unreadable inputs are left out here and reported by the estimation pass (exit 1).
        frames = iter_frames(files, on_error=lambda error: None)
        images = [frame.image for _, frame in zip(range(48), frames)]
        if not images:
            raise ValueError('no readable input to calibrate int8 on: pass --calibration')
    else:
        images = read_calibration_images(source)
    return {'precision': 'int8', 'calibration_images': images}


def drawing_name(frame: Frame) -> str:
    if frame.frame_index is None:
        return f'{frame.source.stem}.jpg'
    return f'{frame.source.stem}_{frame.frame_index:06d}.jpg'


def save_image_atomic(path: Path, image_rgb) -> None:
    """Save a JPEG so that `path` is either absent/old or complete."""
    from PIL import Image
    encoded = io.BytesIO()
    Image.fromarray(image_rgb).save(encoded, format='JPEG', quality=92)
    write_file_atomic(path, encoded.getvalue())


def check_output_file(path: Path) -> str | None:
    """
    Return why `path` cannot take the results file (None if it can); creates its folder.

    Checked before any work, so that a long run never ends without somewhere to write its
    results.
    """
    if path.is_dir():
        return f'--json {path} is a folder: give the path of a file to write'
    if path.exists() and not path.is_file():
        return (f'--json {path} exists and is not a regular file (leave --json out to write to '
                'standard output)')
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=path.parent).close()
    except OSError as error:
        return f'--json {path}: cannot write in {path.parent}: {error.strerror or error}'
    return None


def result_id(frame: Frame, several_inputs: bool):
    """Return the `id` of a frame's result: unique across videos when several inputs are given."""
    if frame.frame_index is not None and several_inputs:
        return f'{frame.source.stem}/{frame.frame_index}'
    return frame.id


def _say(message: str) -> None:
    print(f'posenet_estimate: {message}', file=sys.stderr)


def _reason(error: Exception) -> str:
    """Return an error as one line; an OSError as its reason and file, not '[Errno 28] ...'."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror + (f': {error.filename}' if error.filename else '')
    return str(error)


def _not_stored_reason() -> str:
    """Return why a converted model is not in the cache folder (the write probed again)."""
    from posenet_ros.engine.tflite_cache import tflite_cache_dir
    folder = tflite_cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder) as probe:  # a full disk fails the flush
            probe.write(b'\0')
            probe.flush()
    except OSError as error:
        return (f'the model cache folder {folder} cannot be written '
                f'({error.strerror or error}): nothing was stored. Set POSENET_CACHE to a '
                'folder you can write to')
    return f'the converted model was not stored in the model cache folder {folder}'


def prepare(args, config: EstimateConfig) -> int:
    """
    Put the TFLite model of this model and config into the cache (--prepare).

    Converted in a child process when missing; 0 and its path on standard output, 2 when the
    model is unusable or could not be stored (an image build must not believe the cache filled).
    """
    from posenet_ros.engine.estimator import PoseEstimator
    from posenet_ros.engine.model_store import ModelNotFoundError
    try:
        estimator = PoseEstimator(args.model, multiplier=args.multiplier, device='cpu',
                                  backend='tflite', num_threads=args.threads)
        config.check(estimator.multiplier)
        estimator.warmup(config)
    except ModelNotFoundError as error:
        _say(str(error))
        return 2
    except (ValueError, RuntimeError, OSError) as error:
        _say(f'cannot prepare model {args.model!r}: {_reason(error)}')
        return 2
    cached = estimator.cached_model_path(config)
    if cached is None:  # converted for this process only: the cache could not take it
        _say(f'cannot prepare model {args.model!r}: {_not_stored_reason()}')
        return 2
    print(cached)
    if not args.quiet:
        _say(f'{estimator.model_name} {config.input_height}x{config.input_width} stride '
             f'{config.output_stride} is in the model cache')
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    reuse_frame_memory()  # per-frame arrays reused, not mapped anew (engine/heap.py)
    sleep_idle_workers()  # before OpenCV loads (engine/opencv_pool.py)
    requested = config_from_args(args)
    if args.calibration is not None and args.precision != 'int8':
        parser.error('--calibration needs --precision int8')
    try:
        requested.check(args.multiplier)
    except ValueError as error:
        parser.error(str(error))
    try:
        tracks = estimate_tracking.from_args(args)
    except ValueError as error:
        parser.error(str(error))
    config = requested.snapped()
    if (config.input_height, config.input_width) != args.resolution:
        _say(f'input size {args.resolution[0]}x{args.resolution[1]} snapped to '
             f'{config.input_height}x{config.input_width} (must be k*{config.output_stride}+1)')
    if args.prepare:
        if args.inputs:
            parser.error('--prepare takes no inputs: it only fills the model cache')
        if args.backend not in (None, 'tflite'):
            parser.error('--prepare converts TFLite models: leave out --backend or give tflite')
        if args.precision == 'int8':
            parser.error('--prepare converts float32 models; posenet_quantize calibrates int8 '
                         'ones into the model cache')
        return prepare(args, config)
    if not args.inputs:
        parser.error('give photos, folders or videos to estimate (or --prepare)')
    files = expand_inputs(args.inputs)
    if not files:
        parser.error('no photos or videos found in the given folders')
    if args.json is not None:
        problem = check_output_file(args.json)
        if problem:
            parser.error(problem)
    several_inputs = len(files) > 1 and any(is_video(path) for path in files)
    if args.draw is not None:
        try:
            args.draw.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            parser.error(f'cannot create --draw folder {args.draw}: {error.strerror}')

    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')  # TensorFlow's INFO lines
    from posenet_ros.engine.estimator import PoseEstimator
    from posenet_ros.engine.model_store import ModelNotFoundError
    limit_opencv_threads(args.threads)
    options = {} if args.backend is None else {'backend': args.backend}
    try:
        options.update(int8_options(args, files))
        estimator = PoseEstimator(args.model, multiplier=args.multiplier, device=args.device,
                                  num_threads=args.threads, **options)
        config.check(estimator.multiplier)
        estimator.warmup(config)
    except ModelNotFoundError as error:
        _say(str(error))
        return 2
    except (ValueError, InputReadError, RuntimeError, OSError) as error:
        # RuntimeError: a model build; OSError: a scratch or cache file (a full disk).
        _say(f'cannot use model {args.model!r}: {_reason(error)}')
        return 2

    failures = []

    def skip(error) -> None:
        failures.append(error)
        _say(f'skipping {error}')

    results, times_ms, seen_ids = [], [], set()
    from tqdm import tqdm
    progress = tqdm(iter_frames(files, on_error=skip), unit='img', disable=True if args.quiet
                    else None, desc='posenet_estimate', leave=False)
    drawing = None
    if args.draw is not None:
        from posenet_ros.engine.drawing import draw_poses as drawing
    for frame in progress:
        frame_id = result_id(frame, several_inputs)
        try:
            for _ in range(args.repeat):
                start = time.perf_counter()
                result = estimator.estimate(frame.image, config)
                times_ms.append((time.perf_counter() - start) * 1e3)
        except ValueError as error:
            skip(InputReadError(f'{frame.source} (id {frame_id!r}): cannot estimate: {error}'))
            continue
        if frame_id in seen_ids:
            _say(f'{frame.source}: id {frame_id!r} repeats an earlier input')
        seen_ids.add(frame_id)
        track_ids, poses = (None, result.poses) if tracks is None else \
            tracks.update(frame, result.poses)
        results.append(result_record(frame_id, result.image_width, result.image_height,
                                     poses, track_ids))
        if drawing is not None:
            annotated = drawing(frame.image, poses, args.draw_min_pose_score,
                                args.draw_min_part_score, track_ids, flip_horizontal=args.flip)
            save_image_atomic(args.draw / drawing_name(frame), annotated)
    progress.close()

    document = results_document(config_record(config, args.model, estimator.backend),
                                results, times_ms)
    if estimator.precision != 'float32':
        document['config']['precision'] = estimator.precision
    if tracks is not None:
        document['config']['tracking'] = estimate_tracking.tracking_record(args)
    if args.json is not None:
        try:
            write_json_atomic(args.json, document)
        except OSError as error:
            _say(f'cannot write {args.json}: {error.strerror or error}')
            return 1
    else:
        import json
        json.dump(document, sys.stdout)
        sys.stdout.write('\n')
    if not args.quiet and times_ms:
        ordered = sorted(times_ms)
        people = sum(len(r['poses']) for r in results)
        _say(f'{len(results)} images, {people} poses, median {ordered[len(ordered) // 2]:.1f} ms '
             f'per image ({estimator.model_name}, {estimator.backend}, {estimator.device}'
             + (', int8)' if estimator.precision == 'int8' else ')')
             + (f'; written to {args.json}' if args.json else ''))
    if failures:
        _say(f'{len(failures)} input(s) could not be read')
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
