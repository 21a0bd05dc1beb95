"""
Run the original tfjs-models PoseNet 2.2.2 (Node.js, wasm backend) beside ours, for timing.

The runner (`package.json`, `package-lock.json`, `ref.js`) lives in the shared folder
(`<shared>/tools/tfjs_ref`; elsewhere: $POSENET_TFJS_RUNNER or `--runner`), which is read-only.
Its three files are copied into a work folder outside the repository (default
`~/.cache/posenet_ros/tfjs_ref`, or $POSENET_TFJS_REF_DIR) and `npm ci` installs the pinned
packages there once. Photos are decoded with Pillow into the raw RGB
+ JSON sidecar pairs that `ref.js` reads, and the stride-8 graphs get their depthwise dilations
rewritten to NHWC order so the original runs the network as trained (see the reference README).

    posenet_tfjs_reference --model mobilenet_quant2_075 --stride 16 \
        --resolution 257 --mode single --repeat 10 ../shared/data/smoke/*.jpg
"""
from __future__ import annotations

import argparse
import contextlib
from dataclasses import dataclass, field
import fcntl
import hashlib
import json
import math
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image
from posenet_ros.engine import model_store
from posenet_ros.engine.atomic_write import write_file_atomic
from posenet_ros.engine.resolution import parse_resolution, resolution_label
from posenet_tools.shared_data import models_dir, tfjs_runner_dir

RUNNER_FILES = ('package.json', 'package-lock.json', 'ref.js')
INSTALL_STAMP = '.npm-ci-done'


class TfjsReferenceError(RuntimeError):
    """The original could not be installed or run; the message says what to do."""


def default_work_dir() -> Path:
    return Path(os.environ.get('POSENET_TFJS_REF_DIR',
                               Path.home() / '.cache' / 'posenet_ros' / 'tfjs_ref')).expanduser()


def multiplier_from_model_name(name: str) -> float:
    """0.75 for `mobilenet_quant2_075`, 0.5 for `mobilenet_float_050`, 1.01 for `..._101`."""
    multiplier = model_store.multiplier_from_model_name(name)
    if multiplier is None:
        raise TfjsReferenceError(
            f'cannot tell the MobileNetV1 multiplier from the model folder name {name!r}; '
            'pass multiplier= explicitly')
    return multiplier


def patch_dilations(model_json: dict) -> int:
    """
    Rewrite depthwise `dilations` stored as [r, r, 1, 1] into NHWC [1, r, r, 1], in place.

    tfjs-converter reads dilations[1] and dilations[2], so the shipped stride-8 graphs run
    those layers dilated in height only. Returns how many nodes were rewritten.
    """
    rewritten = 0
    for node in model_json['modelTopology']['node']:
        values = node.get('attr', {}).get('dilations', {}).get('list', {}).get('i')
        if not values or len(values) != 4:
            continue
        rate_h, rate_w, rate_c, rate_n = (int(v) for v in values)
        if rate_h > 1 and rate_c == 1 and rate_n == 1:
            node['attr']['dilations']['list']['i'] = ['1', str(rate_h), str(rate_w), '1']
            rewritten += 1
    return rewritten


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class TfjsRun:
    """What one `ref.js` call gave: its config, poses per image (reference schema), run times."""

    config: dict
    results: list[dict]
    times_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return float(np.median(self.times_ms)) if self.times_ms else math.nan

    @property
    def p90_ms(self) -> float:
        return float(np.percentile(self.times_ms, 90)) if self.times_ms else math.nan

    def as_reference_json(self) -> dict:
        return {'config': self.config, 'results': self.results, 'times_ms': self.times_ms}


class TfjsReference:
    """The original PoseNet, installed once in a work folder and run through Node.js."""

    def __init__(self, work_dir: Path | str | None = None, runner_dir: Path | str | None = None,
                 node: str = 'node', npm: str = 'npm'):
        self.work_dir = Path(work_dir) if work_dir else default_work_dir()
        self.runner_dir = Path(runner_dir) if runner_dir else tfjs_runner_dir()
        self.node = node
        self.npm = npm

    # -- installation ---------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self):
        """Serialise installs and cache writes between processes sharing the work folder."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with open(self.work_dir / '.lock', 'w') as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def is_installed(self) -> bool:
        stamp = self.work_dir / INSTALL_STAMP
        lock_file = self.work_dir / 'package-lock.json'
        return (stamp.exists() and lock_file.exists()
                and stamp.read_text().strip() == _sha256(lock_file)
                and all((self.work_dir / name).exists() for name in RUNNER_FILES))

    def install(self, quiet: bool = True) -> None:
        """Copy the runner into the work folder and `npm ci` once (again if the lock changes)."""
        missing = [n for n in RUNNER_FILES if not (self.runner_dir / n).is_file()]
        if missing:
            raise TfjsReferenceError(
                f'the tfjs reference runner is incomplete at {self.runner_dir} (missing '
                f'{", ".join(missing)}); set POSENET_TFJS_RUNNER to the runner folder or '
                'POSENET_SHARED to the shared folder')
        for tool in (self.node, self.npm):
            if shutil.which(tool) is None:
                raise TfjsReferenceError(
                    f'{tool!r} not found on PATH; install Node.js 18+ and npm')
        with self._locked():
            for name in RUNNER_FILES:
                source = (self.runner_dir / name).read_bytes()
                target = self.work_dir / name
                if not target.exists() or target.read_bytes() != source:
                    write_file_atomic(target, source)
            if self.is_installed():
                return
            (self.work_dir / INSTALL_STAMP).unlink(missing_ok=True)
            command = [self.npm, 'ci', '--no-audit', '--no-fund']
            proc = subprocess.run(command, cwd=self.work_dir, capture_output=quiet, text=True)
            if proc.returncode != 0:
                detail = (proc.stderr or '')[-2000:] if quiet else ''
                raise TfjsReferenceError(
                    f'`npm ci` failed in {self.work_dir} (exit {proc.returncode}); the npm '
                    'registry '
                    f'must be reachable.\n{detail}')
            write_file_atomic(self.work_dir / INSTALL_STAMP,
                              _sha256(self.work_dir / 'package-lock.json'))

    # -- inputs ---------------------------------------------------------------------------
    def prepare_images(self, image_paths) -> list[Path]:
        """Decode photos with Pillow (as the reference did) into cached raw RGB + JSON pairs."""
        image_dir = self.work_dir / 'images'
        prepared = []
        for image_path in map(Path, image_paths):
            if not image_path.is_file():
                raise TfjsReferenceError(f'image not found: {image_path}')
            stat = image_path.stat()
            identity = f'{image_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}'
            key = hashlib.sha1(identity.encode()).hexdigest()[:12]
            raw = image_dir / f'{image_path.stem}-{key}.rgb'
            sidecar = raw.with_suffix('.json')
            if not (raw.exists() and sidecar.exists()):
                with Image.open(image_path) as opened:
                    rgb = opened.convert('RGB')
                image_id = int(image_path.stem) if image_path.stem.isdigit() else image_path.stem
                write_file_atomic(raw, rgb.tobytes())
                write_file_atomic(sidecar, json.dumps(
                    {'width': rgb.width, 'height': rgb.height, 'id': image_id}).encode())
            prepared.append(raw)
        return prepared

    def prepare_model(self, model_dir: Path | str, correct_dilations: bool = True) -> Path:
        """
        Copy a graph-model folder to one that ref.js can serve.

        Stride-8 dilations corrected.
        """
        model_dir = Path(model_dir)
        graphs = sorted(model_dir.glob('model-stride*.json'))
        if not graphs:
            raise TfjsReferenceError(
                f'{model_dir} holds no model-stride*.json: the original runs tfjs graph models '
                'only '
                '(mobilenet_float_*, mobilenet_quant1_*, mobilenet_quant2_*)')
        digest = hashlib.sha1()
        for graph in graphs:
            digest.update(graph.read_bytes())
        tag = 'trained' if correct_dilations else 'shipped'
        # The leaf keeps the folder's name: ref.js reports it as the model in its config.
        target = self.work_dir / 'models' / f'{tag}-{digest.hexdigest()[:10]}' / model_dir.name
        if target.is_dir():
            return target
        with self._locked():
            if target.is_dir():
                return target
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix='.' + target.name + '.'))
            try:
                for source in model_dir.iterdir():
                    if source.suffix == '.json' and source.name.startswith('model-stride'):
                        graph = json.loads(source.read_text())
                        if correct_dilations:
                            patch_dilations(graph)
                        (staging / source.name).write_text(json.dumps(graph))
                    elif source.is_file():
                        shutil.copyfile(source, staging / source.name)
                os.replace(staging, target)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        return target

    # -- running --------------------------------------------------------------------------
    def run(self, model_dir: Path | str, image_paths, *, stride: int = 16,
            resolution: str | int = 257, mode: str = 'single', max_detections: int = 5,
            score_threshold: float = 0.5, nms_radius: float = 20.0, flip: bool = False,
            repeat: int = 1, warmup: bool = True, multiplier: float | None = None,
            backend: str = 'wasm', correct_dilations: bool = True,
            timeout_s: float | None = None) -> TfjsRun:
        """
        Time the original's estimate call on each photo `repeat` times.

        With `warmup`, the first photo is run `repeat` extra times first (graph compilation,
        wasm start-up) and those runs are dropped, so `times_ms` holds len(images) * repeat
        steady-state runs, photo by photo.
        """
        if mode not in ('single', 'multi'):
            raise ValueError(f"mode must be 'single' or 'multi', got {mode!r}")
        if repeat < 1:
            raise ValueError(f'repeat must be at least 1, got {repeat}')
        image_paths = [Path(p) for p in image_paths]
        if not image_paths:
            raise ValueError('no images given')
        self.install()
        model_dir = Path(model_dir)
        if multiplier is None:
            multiplier = multiplier_from_model_name(model_dir.name)
        served = self.prepare_model(model_dir, correct_dilations)
        raws = self.prepare_images(image_paths)
        height, width = parse_resolution(resolution)
        common = ['--model', str(served), '--multiplier', str(multiplier), '--stride', str(stride),
                  '--res', resolution_label(height, width), '--mode', mode,
                  '--max', str(max_detections), '--score', str(score_threshold),
                  '--nms', str(nms_radius), '--backend', backend]
        if flip:
            common.append('--flip')
        with tempfile.TemporaryDirectory(prefix='tfjs-run-', dir=self.work_dir) as tmp:
            out_json = Path(tmp) / 'out.json'
            # Warm-up and measured runs must share one Node process (one loaded model): ref.js
            # repeats every photo equally, so the first photo leads the list once more and its
            # `repeat` runs are dropped below.
            images = ([str(raws[0])] if warmup else []) + [str(r) for r in raws]
            command = [self.node, str(self.work_dir / 'ref.js'), *common, '--repeat', str(repeat),
                       '--out', str(out_json), *images]
            proc = subprocess.run(command, cwd=self.work_dir, capture_output=True, text=True,
                                  timeout=timeout_s)
            if proc.returncode != 0 or not out_json.exists():
                raise TfjsReferenceError(
                    f'ref.js failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}')
            output = json.loads(out_json.read_text())
        times = output['times_ms']
        results = output['results']
        if warmup:
            times = times[repeat:]
            results = results[1:]
        return TfjsRun(config=output['config'], results=results, times_ms=times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog='posenet_tfjs_reference',
        description='Time the original tfjs PoseNet 2.2.2 (Node.js, wasm) on photos.')
    parser.add_argument('images', nargs='+', type=Path, help='photos (JPEG/PNG)')
    parser.add_argument('--model', default='mobilenet_quant2_075',
                        help='weight folder, or its name under $POSENET_MODELS')
    parser.add_argument('--multiplier', type=float, default=None,
                        help='MobileNetV1 width (default: from the folder name)')
    parser.add_argument('--stride', type=int, default=16, choices=(8, 16, 32))
    parser.add_argument('--resolution', default='257', help='N or HxW, e.g. 257 or 353x481')
    parser.add_argument('--mode', default='single', choices=('single', 'multi'))
    parser.add_argument('--max', type=int, default=5, dest='max_detections')
    parser.add_argument('--score', type=float, default=0.5, dest='score_threshold')
    parser.add_argument('--nms', type=float, default=20.0, dest='nms_radius')
    parser.add_argument('--flip', action='store_true')
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--no-warmup', dest='warmup', action='store_false',
                        help='keep the first runs (graph compilation) in the figures')
    parser.add_argument('--backend', default='wasm', choices=('wasm', 'cpu'))
    parser.add_argument('--shipped-dilations', action='store_true',
                        help='run stride 8 as the library ships it (height-only dilation)')
    parser.add_argument('--runner', type=Path, default=None,
                        help='folder of the runner (package.json, package-lock.json, ref.js; '
                             'default $POSENET_TFJS_RUNNER or <shared>/tools/tfjs_ref)')
    parser.add_argument('--work-dir', type=Path, default=None,
                        help=f'install folder (default {default_work_dir()})')
    parser.add_argument('--out', type=Path, default=None,
                        help='write results + times (reference schema)')
    args = parser.parse_args(argv)

    model = Path(args.model)
    if not model.is_dir():
        model = models_dir() / args.model
    try:
        runner = TfjsReference(args.work_dir, args.runner)
        run = runner.run(model, args.images, stride=args.stride, resolution=args.resolution,
                         mode=args.mode, max_detections=args.max_detections,
                         score_threshold=args.score_threshold, nms_radius=args.nms_radius,
                         flip=args.flip, repeat=args.repeat, warmup=args.warmup,
                         multiplier=args.multiplier, backend=args.backend,
                         correct_dilations=not args.shipped_dilations)
    except (TfjsReferenceError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 2
    if args.out:
        write_file_atomic(args.out, json.dumps(run.as_reference_json()))
    print(f'{model.name} s{args.stride} r{args.resolution} {args.mode} ({args.backend}): '
          f'{len(args.images)} images x {args.repeat} runs, median {run.median_ms:.1f} ms, '
          f'p90 {run.p90_ms:.1f} ms')
    return 0


if __name__ == '__main__':
    sys.exit(main())
