"""posenet_estimate end to end: photos, folders and videos in, the original's JSON schema out."""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
from posenet_ros.engine.image_io import load_image_rgb
from posenet_ros.engine.results_json import read_results, ResultsFormatError, write_json_atomic
from posenet_ros.tools.estimate import main, parse_resolution
from posenet_tools.parity import compare_results
import pytest

SMOKE = ('zidane.jpg', 'bus.jpg')


@pytest.fixture(scope='module')
def models_env(models_path):
    """Model names resolve in the shared weights folder."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('POSENET_MODELS', str(models_path))
        yield models_path


@pytest.fixture
def photo_dir(tmp_path, data_path):
    folder = tmp_path / 'photos'
    folder.mkdir()
    for name in SMOKE:
        shutil.copy(data_path / 'smoke' / name, folder / name)
    return folder


def _reference_subset(reference_path, name, ids):
    reference = read_results(reference_path / 'smoke' / name)
    return dict(reference, results=[r for r in reference['results'] if r['id'] in ids])


def test_folder_matches_the_original(models_env, photo_dir, reference_path, tmp_path, capsys):
    out = tmp_path / 'out' / 'poses.json'
    status = main([str(photo_dir), '--resolution', '353x481', '--max-detections', '10',
                   '--score-threshold', '0.1', '--nms-radius', '30', '--json', str(out),
                   '--quiet'])
    assert status == 0
    ours = read_results(out)
    assert [r['id'] for r in ours['results']] == ['bus', 'zidane']  # sorted, stems as ids
    assert ours['config'] | {'backend': None, 'implementation': None} == {
        'model': 'mobilenet_quant2_075', 'stride': 16, 'res': {'height': 353, 'width': 481},
        'mode': 'multi', 'max': 10, 'score': 0.1, 'nms': 30.0, 'flip': False,
        'backend': None, 'implementation': None}
    assert len(ours['times_ms']) == 2 and all(t > 0 for t in ours['times_ms'])
    assert ours['results'][0]['poses'][0]['keypoints'][9]['part'] == 'leftWrist'
    reference = _reference_subset(
        reference_path, 'mobilenet_quant2_075_s16_r353x481_multi_demo.json', {'bus', 'zidane'})
    report = compare_results(ours, reference)
    assert not report.failures(), report.summary()


def test_single_flip_and_stdout(models_env, data_path, reference_path, capsys):
    status = main([str(data_path / 'smoke' / 'zidane.jpg'), '--mode', 'single', '--flip',
                   '--quiet'])
    assert status == 0
    ours = json.loads(capsys.readouterr().out)
    reference = _reference_subset(
        reference_path, 'mobilenet_quant2_075_s16_r257_single_flip.json', {'zidane'})
    report = compare_results(ours, reference)
    assert report.n_poses_ours == 1 and not report.failures(), report.summary()


def test_unreadable_inputs_are_skipped_and_reported(models_env, photo_dir, tmp_path, capsys):
    (photo_dir / 'broken.jpg').write_bytes(b'not a jpeg at all')
    missing = tmp_path / 'missing.png'
    out = tmp_path / 'poses.json'
    status = main([str(photo_dir), str(missing), '--json', str(out), '--repeat', '2'])
    assert status == 1
    err = capsys.readouterr().err
    assert 'broken.jpg' in err and 'missing.png: no such file' in err
    assert '2 input(s) could not be read' in err
    ours = read_results(out)  # the readable photos are still written
    assert [r['id'] for r in ours['results']] == ['bus', 'zidane']
    assert len(ours['times_ms']) == 4  # --repeat 2: every run timed


def test_int8_calibrates_on_the_readable_inputs_and_skips_the_others(
        models_env, data_path, tmp_path, capsys, monkeypatch):
    """No --calibration: the inputs are calibrated on, and an unreadable one is only skipped."""
    monkeypatch.setenv('POSENET_CACHE', str(tmp_path / 'cache'))
    folder = tmp_path / 'photos'
    folder.mkdir()
    (folder / 'zidane.jpg').symlink_to(data_path / 'smoke' / 'zidane.jpg')
    (folder / 'broken.jpg').write_bytes(b'not a jpeg at all')
    out = tmp_path / 'poses.json'
    assert main([str(folder), '--precision', 'int8', '--json', str(out), '--quiet']) == 1
    assert 'skipping ' in capsys.readouterr().err
    ours = read_results(out)
    assert [r['id'] for r in ours['results']] == ['zidane'] and ours['results'][0]['poses']
    assert ours['config']['precision'] == 'int8'


def write_video(path, frames) -> None:
    import cv2
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def test_video_frames_and_drawings(models_env, data_path, tmp_path):
    frames = [load_image_rgb(data_path / 'smoke' / 'zidane.jpg')[:352, :640]] * 3
    video = tmp_path / 'clip.avi'
    write_video(video, frames)
    drawn = tmp_path / 'drawn'
    out = tmp_path / 'video.json'
    assert main([str(video), '--json', str(out), '--draw', str(drawn), '--quiet']) == 0
    results = read_results(out)['results']
    assert [r['id'] for r in results] == [0, 1, 2]
    assert all((r['width'], r['height']) == (640, 352) and r['poses'] for r in results)
    pictures = sorted(p.name for p in drawn.iterdir())
    assert pictures == ['clip_000000.jpg', 'clip_000001.jpg', 'clip_000002.jpg']
    picture = load_image_rgb(drawn / pictures[0])
    assert picture.shape == (352, 640, 3)
    assert np.abs(picture.astype(int) - frames[0]).mean() > 1  # something was drawn on it


def test_several_videos_get_unique_ids(models_env, data_path, tmp_path, capsys):
    frame = load_image_rgb(data_path / 'smoke' / 'zidane.jpg')[:352, :640]
    write_video(tmp_path / 'left.avi', [frame] * 2)
    write_video(tmp_path / 'right.avi', [frame] * 2)
    out = tmp_path / 'videos.json'
    assert main([str(tmp_path / 'left.avi'), str(tmp_path / 'right.avi'),
                 str(data_path / 'smoke' / 'bus.jpg'), '--json', str(out), '--quiet']) == 0
    ids = [r['id'] for r in read_results(out)['results']]
    assert ids == ['left/0', 'left/1', 'right/0', 'right/1', 'bus']
    assert 'repeats' not in capsys.readouterr().err


@pytest.mark.parametrize('make_target, message', [
    (lambda tmp: tmp, 'is a folder: give the path of a file'),
    (lambda tmp: (tmp / 'plain').write_text('') or tmp / 'plain' / 'poses.json',
     'cannot write in'),
])
def test_unusable_json_path_is_refused_before_any_work(data_path, tmp_path, capsys,
                                                       make_target, message):
    target = make_target(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main([str(data_path / 'smoke' / 'bus.jpg'), '--json', str(target),
              '--model', str(tmp_path / 'never_looked_at')])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and 'never_looked_at' not in err


def test_oversized_photo_is_refused_before_decoding(models_env, photo_dir, tmp_path, capsys):
    import hostile_images
    (photo_dir / 'bomb.png').write_bytes(hostile_images.png_bomb(9000, 9000, channels=1,
                                                                 bad_crc_chunk=False))
    out = tmp_path / 'poses.json'
    assert main([str(photo_dir), '--json', str(out), '--quiet']) == 1
    assert 'bomb.png: refused: PNG image of 9000x9000 pixels is larger than MAX_IMAGE_SIDE' in \
        capsys.readouterr().err
    assert [r['id'] for r in read_results(out)['results']] == ['bus', 'zidane']


@pytest.mark.parametrize('args, message', [
    (['--resolution', 'big'], 'is not a resolution'),
    (['--resolution', '1x4097'], 'too small: PoseNet finds nobody'),
    (['--resolution', '257x4097'], 'aspect ratio of 15.9'),
    (['--stride', '32'], 'output_stride 32 needs multiplier'),
    (['--max-detections', '0'], 'must be at least 1'),
    (['--score-threshold', '1.5'], 'score_threshold must be between 0 and 1'),
])
def test_bad_options_exit_2_with_the_reason(models_env, data_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main([str(data_path / 'smoke' / 'bus.jpg'), '--multiplier', '0.75'] + args)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_model_exits_2_with_the_reason(data_path, tmp_path, capsys):
    status = main([str(data_path / 'smoke' / 'bus.jpg'), '--model', str(tmp_path / 'nowhere')])
    assert status == 2
    assert 'nowhere' in capsys.readouterr().err


def test_a_model_that_cannot_be_built_exits_2_with_the_reason(models_env, data_path, tmp_path):
    """
    The conversion's child process fails (here: its TensorFlow cannot be imported).

    posenet_estimate says why in one line and exits 2, as for any unusable model, no traceback.
    """
    shadow = tmp_path / 'shadow' / 'tensorflow'
    shadow.mkdir(parents=True)
    (shadow / '__init__.py').write_text("raise ImportError('tensorflow is broken here')\n")
    env = dict(os.environ, POSENET_CACHE=str(tmp_path / 'empty_cache'),
               PYTHONPATH=os.pathsep.join([str(shadow.parent), os.environ.get('PYTHONPATH', '')]))
    done = subprocess.run([sys.executable, '-m', 'posenet_ros.tools.estimate',
                           str(data_path / 'smoke' / 'bus.jpg'), '--quiet'],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 2, done.stderr[-2000:]
    assert 'cannot use model' in done.stderr and 'tensorflow is broken here' in done.stderr
    assert 'Traceback' not in done.stderr


def test_prepare_refuses_int8_and_names_the_tool_that_makes_it(models_env, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(['--prepare', '--precision', 'int8'])
    assert exit_info.value.code == 2
    assert 'posenet_quantize' in capsys.readouterr().err


def test_prepare_fails_when_the_model_cache_cannot_be_written(models_env, tmp_path, capsys,
                                                              monkeypatch):
    """
    An image build must not believe the cache filled: exit 2 naming the folder, no path.

    Before, the model converted for the process only printed 'None' and exit status 0.
    """
    blocker = tmp_path / 'a_file'
    blocker.write_text('not a folder')  # unwritable even for root
    monkeypatch.setenv('POSENET_CACHE', str(blocker / 'cache'))
    status = main(['--prepare', '--model', 'mobilenet_float_050', '--resolution', '129'])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ''
    assert ("cannot prepare model 'mobilenet_float_050': the model cache folder "
            f'{blocker / "cache" / "tflite"} cannot be written (Not a directory)') in captured.err
    assert 'is in the model cache' not in captured.err


def test_int8_scratch_file_that_cannot_be_written_exits_2_with_the_reason(
        models_env, data_path, tmp_path):
    """
    A full $TMPDIR as the int8 calibration frames are saved: one line and exit 2, no traceback.

    The full disk is stood in for by a file size limit (RLIMIT_FSIZE: writes fail with EFBIG,
    an OSError as ENOSPC is), which needs no mount.
    """
    pytest.importorskip('resource')  # the limit below: not on Windows
    script = ('import resource, sys; from posenet_ros.tools.estimate import main; '
              f'resource.setrlimit(resource.RLIMIT_FSIZE, ({64 * 1024}, resource.RLIM_INFINITY)); '
              'sys.exit(main(sys.argv[1:]))')
    done = subprocess.run(
        [sys.executable, '-c', script, str(data_path / 'smoke' / 'zidane.jpg'), '--model',
         'mobilenet_float_050', '--resolution', '129', '--precision', 'int8', '--quiet'],
        capture_output=True, text=True, timeout=300,
        env=dict(os.environ, POSENET_CACHE=str(tmp_path / 'cache')))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "cannot use model 'mobilenet_float_050': File too large" in done.stderr
    assert 'Traceback' not in done.stderr
    assert done.stdout == ''


def test_module_entry_point(models_env, data_path, tmp_path):
    out = tmp_path / 'p.json'
    done = subprocess.run([sys.executable, '-m', 'posenet_ros.tools.estimate',
                           str(data_path / 'smoke' / 'skimage_camera.jpg'), '--mode', 'single',
                           '--resolution', '300', '--json', str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'snapped to 289x289' in done.stderr
    assert read_results(out)['config']['res'] == 289


def test_resolution_parsing():
    assert parse_resolution('257') == (257, 257)
    assert parse_resolution('353x481') == (353, 481)
    assert parse_resolution(' 353 X 481 ') == (353, 481)


def test_json_write_is_atomic(tmp_path):
    path = tmp_path / 'r.json'
    write_json_atomic(path, {'config': {}, 'results': [], 'times_ms': [1.0]})
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_json_atomic(path, {'config': {}, 'results': [], 'times_ms': [math.nan]})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ['r.json']  # no temporary left behind


def test_malformed_results_files_are_named(tmp_path):
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps({'results': [{'id': 1, 'width': 2, 'height': 2, 'poses': [
        {'score': 0.5, 'keypoints': [{'part': 'nose', 'score': 1, 'x': 0, 'y': 0}] * 16}]}]}))
    with pytest.raises(ResultsFormatError, match=r'results\[0\]\.poses\[0\]\.keypoints'):
        read_results(path)
    path.write_text('{"results": [')
    with pytest.raises(ResultsFormatError, match='not JSON'):
        read_results(path)
