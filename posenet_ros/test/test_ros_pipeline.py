"""
The frame pipeline's promise: bad input skips a frame, a failed optional stage only loses its part.

The real FramePipeline, FrameStats and /diagnostics' processing status. The failing stages are
small ones written here: no input is known that makes the node's own optional stages (3D,
tracking, smoothing, markers) fail, which is why the guard is there.
"""
from __future__ import annotations

from diagnostic_msgs.msg import DiagnosticStatus
import numpy as np
from posenet_ros.engine.people import PeopleFrame
from posenet_ros.ros.diagnostics import HealthInputs, processing_status
from posenet_ros.ros.frame_stats import FrameStats
from posenet_ros.ros.parameters import LIVE, live_settings, SPECS
from posenet_ros.ros.pipeline import FramePipeline, FrameRejected
from posenet_ros.ros.stages.collector import FreezeAfterImportsStage
from posenet_ros.ros.stages.depth import DepthStage
from posenet_ros.ros.stages.int8_calibration import Int8CalibrationStage
from posenet_ros.ros.stages.smoothing import SmoothingStage
from posenet_ros.ros.stages.tracking import TrackingStage
from posenet_ros.ros.stages.visualization import VisualizationStage
import pytest
from sensor_msgs.msg import Image

TOPIC = '/camera/image_raw'


def one_person() -> PeopleFrame:
    rng = np.random.default_rng(0)
    return PeopleFrame(
        image_width=640, image_height=480, scores=np.array([0.8]),
        keypoint_scores=rng.uniform(0.3, 1.0, (1, 17)),
        keypoint_coords=rng.uniform(0, 400, (1, 17, 2)),
        keypoint_positions=np.full((1, 17, 3), np.nan),
        has_keypoint_position=np.zeros((1, 17), dtype=bool), positions=np.full((1, 3), np.nan),
        has_position=np.zeros(1, dtype=bool), track_ids=np.zeros(1, dtype=np.int64))


def estimate(frame) -> None:
    frame.people = one_person()


class FailingEnrichment:
    """Writes ids, then fails, as a tracker with a bug would."""

    optional = True
    name = 'failing_enrichment'

    def __call__(self, frame) -> None:
        frame.people.track_ids = np.array([7])
        raise RuntimeError('a bug in the enrichment')


class Publish:
    """Records what would be published."""

    def __init__(self):
        self.published = []

    def __call__(self, frame) -> None:
        self.published.append(frame.people.track_ids.tolist())
        frame.latency_ms = 1.0


@pytest.fixture
def settings():
    return live_settings({name: SPECS[name].default for name in LIVE}, 0.75)


def run(stages, settings):
    logs = {'bad input': [], 'failure': []}
    stats = FrameStats()
    pipeline = FramePipeline(stages, stats, TOPIC, bad_input_log=logs['bad input'].append,
                             failure_log=logs['failure'].append)
    pipeline.run(Image(), settings)
    return stats.take(), logs


def test_a_failed_optional_stage_is_undone_and_the_poses_go_out_without_it(settings):
    publish = Publish()
    period, logs = run([estimate, FailingEnrichment(), publish], settings)
    assert publish.published == [[0]], 'the ids the failed stage wrote were taken back'
    assert (period.processed, period.failed, period.degraded) == (1, 0, 1)
    assert 'failing_enrichment' in period.last_degradation
    assert 'RuntimeError' in period.last_degradation
    assert len(logs['failure']) == 1 and 'go out without it' in logs['failure'][0]
    status = processing_status('posenet_node', 'cpu', HealthInputs(state='active', period=period))
    assert status.level == DiagnosticStatus.WARN
    assert 'failing_enrichment' in status.message


def test_a_failed_required_stage_still_loses_the_frame(settings):
    class FailingRequired(FailingEnrichment):
        optional = False

    publish = Publish()
    period, logs = run([estimate, FailingRequired(), publish], settings)
    assert publish.published == []
    assert (period.processed, period.failed, period.degraded) == (0, 1, 0)
    status = processing_status('posenet_node', 'cpu', HealthInputs(state='active', period=period))
    assert status.level == DiagnosticStatus.WARN and 'estimation failed' in status.message


def test_bad_input_found_by_an_optional_stage_still_skips_the_frame(settings):
    class Rejecting:
        optional = True

        def __call__(self, frame) -> None:
            raise FrameRejected('unusable input')

    publish = Publish()
    period, logs = run([estimate, Rejecting(), publish], settings)
    assert publish.published == []
    assert (period.processed, period.rejected, period.degraded) == (0, 1, 0)
    assert logs['bad input'] and not logs['failure']


def test_a_frame_without_failures_reports_ok(settings):
    publish = Publish()
    period, logs = run([estimate, publish], settings)
    assert publish.published == [[0]] and period.degraded == 0
    status = processing_status('posenet_node', 'cpu', HealthInputs(state='active', period=period))
    assert status.level == DiagnosticStatus.OK


@pytest.mark.parametrize('stage', [Int8CalibrationStage, DepthStage, TrackingStage, SmoothingStage,
                                   VisualizationStage, FreezeAfterImportsStage])
def test_the_stages_the_poses_can_go_out_without_are_optional(stage):
    assert stage.optional is True
