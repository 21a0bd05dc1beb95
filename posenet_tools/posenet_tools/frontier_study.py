"""
posenet_frontier_study: COCO AP against the cost of a 640x480 frame, float32 and int8.

    posenet_frontier_study [--models M ...] [--precisions float32 int8] [--sizes 353x481 ...]
                           [--strides 16 8] [--flips off on] [--out docs/frontier_study.json]
                           [--plot docs/frontier_ap_fps.png] [--markdown table.md]
    posenet_frontier_study --retime docs/frontier_study.json [--finalists 6]
                           [--merge more.json ...]
    posenet_frontier_study --report docs/frontier_study.json --plot docs/frontier_ap_fps.png

Each point is config/posenet.yaml's accuracy options (`match_aspect_ratio`, `refine_keypoints`,
the pose score of the 5 best keypoints; multi-pose 10 / 0.1 / 30) at one model, precision,
input size (the pixel budget `match_aspect_ratio` fills), output stride and flip test.

- AP: pycocotools on the photos of annotations_val2017.json (`posenet_eval`'s functions).
- Cost: the median wall time of `PoseEstimator.estimate` on a 640x480 photo, `--threads`
  inference threads, every point taking turns after all AP runs, so that load from other
  processes spreads over them evenly. The load average is recorded beside it.
- int8 is calibrated per input size (one model per size `match_aspect_ratio` picks) on the
  photos of annotations.json that are not val photos (`int8_study.calibration_photos`): a
  scored photo is never calibrated on. Calibrated models are cached on disk under a key of
  their calibration, so a rerun calibrates nothing.
- A point whose pilot time (the fastest of a few calls before its AP run, which load from
  other processes cannot raise much) exceeds `--skip-ms` is not scored, and the points that
  cost at least as much (same model, precision and stride, as many input pixels or more, flip
  test as much or more) are skipped untimed.

`--retime` times a saved study again: every scored point in turns (`--repeats`), then the
finalists in alternation with more calls (`--final-repeats`): the most accurate points within
`--budget-ms` x `RETIME_MARGIN`, and the old yaml (float32, 353x481, stride 16, no flip).
`--merge` first adds the points of other runs (a point measured again replaces the saved one),
e.g. points a noisy pilot skipped, measured with a higher `--skip-ms`. The chosen setting is
the most accurate point within `--budget-ms` by its latest timing.
"""
from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
import json
import os
from pathlib import Path
import sys
import time

import numpy as np
from posenet_ros.engine.atomic_write import write_file_atomic
from posenet_ros.engine.config import EstimateConfig
from posenet_ros.engine.resolution import parse_resolution, resolution_label
from posenet_ros.engine.results_json import write_json_atomic
from posenet_tools.accuracy_study import base_config, RECOMMENDED_POSE_SCORE_KEYPOINTS
from posenet_tools.eval import (annotated_images, default_annotations, evaluate_results,
                                load_annotations, run_estimator)

MODEL = 'mobilenet_quant2_075'
PRECISIONS = ('float32', 'int8')
SIZES = ('353x481', '417x545', '481x641', '513x673', '577x769')
STRIDES = (16, 8)
FLIPS = ('off', 'on')
THREADS = 2
BUDGET_MS = 40.0   # in process, so that the node keeps 20 frames/s through ROS with headroom
TARGET_FPS = 20.0
SKIP_MS = 100.0    # pilot time above which a point (and every costlier one) is not scored
RETIME_MARGIN = 1.25  # finalists: the most accurate points within budget x this
CALIBRATION_PHOTOS = 53  # every non-val photo of annotations.json (as docs/int8.md's heads-bc)
# The yaml's setting before int8 (AP 0.280 at 19 ms in docs/accuracy.md): the reference point.
OLD_YAML = {'model': MODEL, 'precision': 'float32', 'stride': 16, 'resolution': '353x481',
            'flip': False}


@dataclass
class Point:
    """One setting of the frontier and what it measured."""

    model: str
    precision: str
    stride: int
    resolution: str  # the pixel budget match_aspect_ratio fills, e.g. 481x641
    flip: bool
    ap: float | None = None  # None: not scored (skipped)
    ap50: float | None = None
    ar: float | None = None
    input_sizes: list = dataclasses.field(default_factory=list)  # sizes the photos used
    pilot_ms: float | None = None  # the fastest of a few calls before the AP run
    camera_ms: float | None = None  # median per 640x480 frame, all points taking turns
    camera_p90_ms: float | None = None
    final_ms: float | None = None  # the finalists' retiming, in alternation
    final_p90_ms: float | None = None
    calibration_s: float = 0.0  # int8: calibrating the sizes this point needed first
    skipped: str = ''  # why it was not scored

    @property
    def key(self) -> str:
        flip = ' flip' if self.flip else ''
        return f'{self.model} {self.precision} s{self.stride} {self.resolution}{flip}'

    @property
    def pixels(self) -> int:
        height, width = parse_resolution(self.resolution)
        return height * width

    @property
    def ms(self) -> float | None:
        """Return the latest timing: the finalists' retiming, else the grid's."""
        return self.final_ms if self.final_ms is not None else self.camera_ms

    def config(self) -> EstimateConfig:
        return base_config(self.stride, self.resolution, match_aspect_ratio=True,
                           refine_keypoints=True, flip_test=self.flip,
                           pose_score_keypoints=RECOMMENDED_POSE_SCORE_KEYPOINTS)


def grid(models, precisions, sizes, strides, flips) -> list[Point]:
    """Return the points to measure, cheapest first within a model, precision and stride."""
    ordered = sorted(sizes, key=lambda size: np.prod(parse_resolution(size)))
    return [Point(model, precision, stride, size, flip) for model in models
            for precision in precisions for stride in strides for size in ordered
            for flip in flips]


def costs_at_least(point: Point, other: Point) -> bool:
    """
    Whether `point` surely costs at least what `other` costs.

    The same model, precision and stride with as many input pixels or more and the flip test
    on wherever `other` has it.
    """
    return ((point.model, point.precision, point.stride)
            == (other.model, other.precision, other.stride)
            and point.pixels >= other.pixels and point.flip >= other.flip)


def is_old_yaml(point: Point) -> bool:
    return all(getattr(point, name) == value for name, value in OLD_YAML.items())


def pareto(points: list[Point]) -> list[Point]:
    """Return the points no other beats on both AP and time, fastest first."""
    timed = sorted((p for p in points if p.ap is not None and p.ms is not None),
                   key=lambda p: (p.ms, -p.ap))
    front, best = [], -1.0
    for point in timed:
        if point.ap > best:
            front.append(point)
            best = point.ap
    return front


def choose(points: list[Point], budget_ms: float) -> Point | None:
    """Return the most accurate point within the budget (ties: the faster)."""
    within = [p for p in points if p.ap is not None and p.ms is not None and p.ms <= budget_ms]
    return max(within, key=lambda p: (p.ap, -p.ms), default=None)


def finalists(points: list[Point], budget_ms: float, count: int,
              margin: float = RETIME_MARGIN) -> list[Point]:
    """Return the `count` most accurate points within budget x margin, and the old yaml."""
    near = [p for p in points if p.ap is not None and p.ms is not None
            and p.ms <= budget_ms * margin]
    chosen = sorted(near, key=lambda p: -p.ap)[:count]
    chosen += [p for p in points if is_old_yaml(p) and p.ap is not None and p not in chosen]
    return chosen


# -- measuring ------------------------------------------------------------------------------

class Bench:
    """The photos, the ground truth, the 640x480 frame and one estimator per model/precision."""

    def __init__(self, annotations: Path, threads: int, calibration_photos: int,
                 progress: bool = True):
        from posenet_ros.engine import backends
        from posenet_ros.engine.heap import reuse_frame_memory
        from posenet_ros.engine.image_io import load_image_rgb
        from posenet_ros.engine.opencv_pool import sleep_idle_workers
        from posenet_ros.engine.tf_runtime import import_tensorflow
        reuse_frame_memory()  # as posenet_node and posenet_estimate do (engine/heap.py)
        sleep_idle_workers()  # as they do too, before OpenCV loads (engine/opencv_pool.py)
        # Every point's interpreters stay built, so none is rebuilt while timing.
        backends.TFLITE_CACHE_BYTES = max(backends.TFLITE_CACHE_BYTES, 8 << 30)
        import_tensorflow()  # float sizes convert in this process; int8 calibrates here anyway
        self.ground_truth = load_annotations(annotations)
        self.images = annotated_images(self.ground_truth, annotations.parent / 'images')
        self.image_shapes = [(image['height'], image['width']) for image in
                             self.ground_truth.loadImgs(self.ground_truth.getImgIds())]
        frames = (load_image_rgb(path) for _, path in self.images)
        self.frame = next((rgb for rgb in frames if rgb.shape[:2] == (480, 640)), None)
        if self.frame is None:
            raise ValueError(f'no 640x480 photo in {annotations} to time frames on')
        self.threads = threads
        self.calibration_photos = calibration_photos
        self.progress = progress
        self._estimators = {}
        self._calibration = None

    def estimator(self, model: str, precision: str):
        if (model, precision) not in self._estimators:
            from posenet_ros.engine.estimator import PoseEstimator
            extra = {}
            if precision == 'int8':
                if self._calibration is None:
                    from posenet_tools.int8_study import calibration_photos
                    self._calibration = calibration_photos(self.calibration_photos)
                extra = {'precision': 'int8', 'calibration_images': self._calibration}
            self._estimators[(model, precision)] = PoseEstimator(
                model, backend='tflite', num_threads=self.threads, **extra)
        return self._estimators[(model, precision)]

    def _calibration_seconds(self, estimator) -> float:
        inference = estimator._network.inference  # noqa: SLF001 - the study's own figures
        return float(sum(getattr(inference, 'convert_seconds', {}).values()))

    def runner(self, point: Point):
        """Return `() -> None`: one `estimate` of the 640x480 frame at this point."""
        estimator = self.estimator(point.model, point.precision)
        config = point.config()
        estimator.warmup(config, *self.frame.shape[:2])
        return lambda: estimator.estimate(self.frame, config)

    def pilot(self, point: Point, calls: int = 7) -> None:
        estimator = self.estimator(point.model, point.precision)
        before = self._calibration_seconds(estimator)
        run = self.runner(point)
        run()
        point.pilot_ms = fastest_ms(run, calls)
        point.calibration_s += self._calibration_seconds(estimator) - before

    def score(self, point: Point) -> None:
        estimator = self.estimator(point.model, point.precision)
        before = self._calibration_seconds(estimator)
        config = point.config()
        data = run_estimator(estimator, config, self.images, progress=False)
        scores = evaluate_results(data, self.ground_truth)[0]
        point.ap, point.ap50, point.ar = scores.ap, scores.ap50, scores.ar
        point.input_sizes = sorted({resolution_label(*_input_size(config, h, w))
                                    for h, w in self.image_shapes})
        point.calibration_s += self._calibration_seconds(estimator) - before

    def log(self, text: str) -> None:
        if self.progress:
            print(text, file=sys.stderr, flush=True)


def _input_size(config: EstimateConfig, height: int, width: int) -> tuple[int, int]:
    used = config.for_image(height, width)
    return used.input_height, used.input_width


def fastest_ms(run, calls: int) -> float:
    """Return the fastest of `calls` calls, ms: what load from other processes cannot raise."""
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1e3)
    return float(min(samples))


def time_in_turns(runners: list, repeats: int) -> list[tuple[float, float]]:
    """Return (median, p90) ms of each runner, the runners called in turn `repeats` times."""
    for run in runners:
        run()
    samples = [[] for _ in runners]
    for _ in range(repeats):
        for run, values in zip(runners, samples):
            start = time.perf_counter()
            run()
            values.append((time.perf_counter() - start) * 1e3)
    return [(float(np.median(v)), float(np.percentile(v, 90))) for v in samples]


def measure_grid(bench: Bench, points: list[Point], skip_ms: float, repeats: int,
                 save=None) -> None:
    """
    Pilot and score each point (skipping the costly), then time the scored ones in turns.

    `save()`, if given, is called after each point (a long run keeps what it measured).
    """
    over: list[Point] = []
    for point in points:
        if save is not None:
            save()
        dearer = next((o for o in over if costs_at_least(point, o)), None)
        if dearer is not None:
            point.skipped = f'costs at least {dearer.key} ({dearer.pilot_ms:.0f} ms)'
            bench.log(f'  skip   {point.key}: {point.skipped}')
            continue
        bench.pilot(point)
        if point.pilot_ms > skip_ms:
            point.skipped = f'pilot {point.pilot_ms:.0f} ms > {skip_ms:g} ms'
            over.append(point)
            bench.log(f'  skip   {point.key}: {point.skipped}')
            continue
        bench.score(point)
        bench.log(f'  scored {point.key}: AP {point.ap:.3f}, pilot {point.pilot_ms:.1f} ms'
                  + (f', calibration {point.calibration_s:.0f} s' if point.calibration_s else ''))
    scored = [p for p in points if p.ap is not None]
    if repeats > 0 and scored:
        timings = time_in_turns([bench.runner(p) for p in scored], repeats)
        for point, (median, p90) in zip(scored, timings):
            point.camera_ms, point.camera_p90_ms = median, p90


def retime(bench: Bench, points: list[Point], repeats: int, budget_ms: float, count: int,
           final_repeats: int) -> list[Point]:
    """Time every scored point again in turns, then the finalists; return the finalists."""
    scored = [p for p in points if p.ap is not None]
    for point, (median, p90) in zip(scored, time_in_turns([bench.runner(p) for p in scored],
                                                          repeats)):
        point.camera_ms, point.camera_p90_ms = median, p90
        point.final_ms = point.final_p90_ms = None
    chosen = finalists(points, budget_ms, count)
    bench.log('finalists: ' + '; '.join(p.key for p in chosen))
    for point, (median, p90) in zip(chosen, time_in_turns([bench.runner(p) for p in chosen],
                                                          final_repeats)):
        point.final_ms, point.final_p90_ms = median, p90
    return chosen


# -- output ---------------------------------------------------------------------------------

def markdown(points: list[Point], chosen: Point | None) -> str:
    """Return the frontier table: every point reached, the chosen one in bold."""
    lines = ['| model | precision | stride | input (budget) | flip test | AP | ms/frame | '
             'frames/s | retimed ms |', '|---|---|---|---|---|---|---|---|---|']
    reached = [p for p in points if p.ap is not None or p.skipped or p.pilot_ms is not None]
    for p in sorted(reached, key=lambda p: (p.model, p.precision, p.stride, p.pixels, p.flip)):
        if p.ap is None:
            cells = ['–', f'({p.pilot_ms:.0f})' if p.pilot_ms else '–', '–', '']
        else:
            ms = p.camera_ms if p.camera_ms is not None else p.pilot_ms
            cells = [f'{p.ap:.3f}', f'{ms:.1f}', f'{1e3 / ms:.0f}',
                     f'{p.final_ms:.1f}' if p.final_ms is not None else '']
        row = [p.model.replace('mobilenet_', ''), p.precision, str(p.stride), p.resolution,
               'on' if p.flip else 'off'] + cells
        if p is chosen:
            row = [f'**{cell}**' if cell else cell for cell in row]
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines) + '\n'


def plot(points: list[Point], path: Path, target_fps: float, chosen: Point | None) -> None:
    """
    Plot AP against frames per second: float32 and int8, their frontiers and the fps line.

    The chosen point's model (else the first) in colour (hollow: flip test; small: stride 8),
    its frontier points labelled; other models as grey markers.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter
    # precision -> colour, marker, label offset and alignment (the two frontiers apart)
    styles = {'float32': ('tab:blue', 'o', (-5, -10), 'right'),
              'int8': ('tab:orange', '^', (5, 3), 'left')}
    timed = [p for p in points if p.ap is not None and p.ms is not None]
    if not timed:
        return
    main = chosen.model if chosen is not None else timed[0].model
    figure, axes = plt.subplots(figsize=(7.5, 4.8), dpi=100)
    for model in dict.fromkeys(p.model for p in timed if p.model != main):
        for precision, (_, marker, _, _) in styles.items():
            shown = [p for p in timed if (p.model, p.precision) == (model, precision)]
            if shown:
                axes.scatter([1e3 / p.ms for p in shown], [p.ap for p in shown], s=14,
                             marker=marker, color='0.7',
                             label=f"{model.replace('mobilenet_', '')} {precision}")
    for precision, (colour, marker, offset, align) in styles.items():
        mine = [p for p in timed if (p.model, p.precision) == (main, precision)]
        if not mine:
            continue
        for flip, stride in ((False, 16), (True, 16), (False, 8), (True, 8)):
            shown = [p for p in mine if (p.flip, p.stride) == (flip, stride)]
            if shown:
                axes.scatter([1e3 / p.ms for p in shown], [p.ap for p in shown],
                             marker=marker, s=40 if stride == 16 else 16,
                             facecolors='none' if flip else colour, edgecolors=colour,
                             label=f"{precision}{', flip test' if flip else ''}"
                             f"{', stride 8' if stride == 8 else ''}")
        front = pareto(mine)
        axes.plot([1e3 / p.ms for p in front], [p.ap for p in front], color=colour,
                  linewidth=1, alpha=0.6)
        for p in front:
            label = p.resolution + (' s8' if p.stride == 8 else '') + (' flip' if p.flip else '')
            axes.annotate(label, (1e3 / p.ms, p.ap), textcoords='offset points', xytext=offset,
                          ha=align, fontsize=7, color=colour)
    axes.set_xscale('log')
    axes.xaxis.set_major_locator(FixedLocator([5, 10, 20, 30, 50, 100, 150]))
    axes.xaxis.set_major_formatter(ScalarFormatter())
    axes.xaxis.set_minor_locator(NullLocator())
    axes.axvline(target_fps, color='grey', linestyle='--', linewidth=1)
    axes.text(target_fps, axes.get_ylim()[0], f' {target_fps:g} frames/s', color='grey',
              fontsize=8, va='bottom')
    old_yaml = next((p for p in timed if is_old_yaml(p)), None)
    for point, text, where in ((chosen, 'chosen', (16, 10)), (old_yaml, 'old yaml', (12, -18))):
        if point is not None and point.ms is not None:
            axes.annotate(text, (1e3 / point.ms, point.ap), textcoords='offset points',
                          xytext=where, fontsize=8, fontweight='bold',
                          arrowprops={'arrowstyle': '-', 'color': 'black', 'linewidth': 0.6})
    axes.set_xlabel('frames/s (log), one 640x480 frame at a time, in process, 2 threads')
    axes.set_ylabel('COCO keypoint AP (44 val photos)')
    axes.set_title(f"{main.replace('mobilenet_', '')}: AP against speed with "
                   "config/posenet.yaml's options", fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc='lower left')
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def load_points(document: dict) -> list[Point]:
    names = {f.name for f in dataclasses.fields(Point)}
    return [Point(**{k: v for k, v in row.items() if k in names}) for row in document['points']]


def merged(points: list[Point], more: list[Point]) -> list[Point]:
    """Return `points` with those of `more` added; a scored point replaces one of its key."""
    by_key = {p.key: p for p in points}
    for point in more:
        if point.ap is not None or point.key not in by_key:
            by_key[point.key] = point
    return list(by_key.values())


def document(points: list[Point], chosen: Point | None, bench: Bench, budget_ms: float,
             loads: dict) -> dict:
    return {'photos': len(bench.images), 'threads': bench.threads,
            'cpus': len(os.sched_getaffinity(0)), 'budget_ms': budget_ms,
            'calibration_photos': bench.calibration_photos, 'load_average': loads,
            'chosen': chosen.key if chosen else None,
            'points': [{**dataclasses.asdict(p), 'key': p.key} for p in points]}


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='posenet_frontier_study',
                                     description=__doc__.splitlines()[1])
    parser.add_argument('--annotations', type=Path, default=None,
                        help=f'COCO person-keypoints file (default {default_annotations()})')
    parser.add_argument('--models', nargs='+', default=[MODEL])
    parser.add_argument('--precisions', nargs='+', default=list(PRECISIONS),
                        choices=list(PRECISIONS))
    parser.add_argument('--sizes', nargs='+', default=list(SIZES))
    parser.add_argument('--strides', nargs='+', type=int, default=list(STRIDES))
    parser.add_argument('--flips', nargs='+', default=list(FLIPS), choices=list(FLIPS))
    parser.add_argument('--threads', type=int, default=THREADS)
    parser.add_argument('--calibration-photos', type=int, default=CALIBRATION_PHOTOS)
    parser.add_argument('--budget-ms', type=float, default=BUDGET_MS,
                        help='the chosen point costs at most this per 640x480 frame')
    parser.add_argument('--fps', type=float, default=TARGET_FPS, help='the line on the plot')
    parser.add_argument('--skip-ms', type=float, default=SKIP_MS)
    parser.add_argument('--repeats', type=int, default=20,
                        help='timed calls per point (0: no timing)')
    parser.add_argument('--retime', type=Path, default=None,
                        help='time the finalists of this saved study again (and rewrite it)')
    parser.add_argument('--finalists', type=int, default=6)
    parser.add_argument('--final-repeats', type=int, default=60,
                        help='with --retime: timed calls per finalist')
    parser.add_argument('--report', type=Path, default=None,
                        help='measure nothing: the table and plot of this saved study')
    parser.add_argument('--merge', type=Path, nargs='+', default=[],
                        help='with --retime: add the points of these saved studies first')
    parser.add_argument('--out', type=Path, default=None, help='write every point as JSON')
    parser.add_argument('--plot', type=Path, default=None, help='AP against frames/s (png)')
    parser.add_argument('--markdown', type=Path, default=None, help='write the table here')
    parser.add_argument('--quiet', action='store_true')
    return parser


def main(argv=None) -> int:
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    args = _build_parser().parse_args(argv)
    if args.report:  # no measuring: the table and plot of a saved study
        saved = json.loads(args.report.read_text())
        points = load_points(saved)
        return _report(points, args, saved.get('photos'), saved.get('load_average'))
    try:
        for size in args.sizes:
            parse_resolution(size)
        bench = Bench(args.annotations or default_annotations(), args.threads,
                      args.calibration_photos, progress=not args.quiet)
        loads = {'start': list(os.getloadavg())}
        if args.retime:
            saved = json.loads(args.retime.read_text())
            loads = saved.get('load_average', {})
            points = load_points(saved)
            for path in args.merge:
                points = merged(points, load_points(json.loads(path.read_text())))
            loads['retime_start'] = list(os.getloadavg())
            retime(bench, points, args.repeats, args.budget_ms, args.finalists,
                   args.final_repeats)
            loads['retime_end'] = list(os.getloadavg())
            args.out = args.out or args.retime
        else:
            points = grid(args.models, args.precisions, args.sizes, args.strides,
                          [flip == 'on' for flip in args.flips])
            out = args.out

            def save():
                if out:
                    write_json_atomic(out, document(points, None, bench, args.budget_ms, loads))

            measure_grid(bench, points, args.skip_ms, args.repeats, save)
            loads['end'] = list(os.getloadavg())
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    if args.out:
        write_json_atomic(args.out, document(points, choose(points, args.budget_ms), bench,
                                             args.budget_ms, loads))
    return _report(points, args, len(bench.images), loads)


def _report(points: list[Point], args, photos, loads) -> int:
    chosen = choose(points, args.budget_ms)
    text = markdown(points, chosen)
    print(f'COCO keypoint AP on {photos} photos; ms per 640x480 frame, '
          f'{args.threads} threads; load average {loads}')
    print(text)
    print(f'chosen (most accurate within {args.budget_ms:g} ms): '
          f'{chosen.key if chosen else "none"}')
    if args.plot:
        plot(points, args.plot, args.fps, chosen)
    if args.markdown:
        write_file_atomic(args.markdown, text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
