"""
posenet_node's health as diagnostic_msgs/DiagnosticArray, for /diagnostics at 1 Hz.

Laid out as diagnostic_aggregator and rqt_robot_monitor read it: one DiagnosticStatus per aspect,
named "<node name>: <aspect>", with the hardware_id, a level, a one-line message and key-values.

- lifecycle: the state; ERROR when the last configure failed (its reason is the message).
- input: frames received / processed / dropped / rejected in the last period, rate; WARN when
  active and no frame arrived for `diagnostics_input_timeout` s, or frames failed conversion.
  The worker takes the frames itself, so while it is on one frame none is counted: then the
  status says so (OK, WARN only when the topic has no publisher) instead of blaming the camera.
- processing: latency p50 / p95 (image stamp to publish), inference ms, the mean time of each
  pipeline stage, failures, frames published without a failed optional stage (3D, ids,
  smoothing, markers), the worker; WARN on failures or such frames, ERROR after repeated
  estimation failures or when the worker thread died (in the period it was restarted) or is
  stuck.
- model: model, multiplier, device, backend, output stride and input size in use.
- depth (use_depth, in every state): frames with and without positions in the last period.
The node never reports STALE itself (that is the aggregator's word for a silent node).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from posenet_ros.ros.frame_stats import PeriodStats

OK, WARN, ERROR = DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR
# Estimation failing on this many frames in a row (none processed in between) is an ERROR.
REPEATED_FAILURES = 3


@dataclass
class HealthInputs:
    """Everything one diagnostics message is made from, gathered by the node each period."""

    state: str                          # lifecycle state label
    configure_error: str = ''           # why the last configure failed ('' when it did not)
    activate_error: str = ''            # why the last activate failed ('' when it did not)
    period: PeriodStats | None = None   # frames of the last period (None when not active)
    received: int = 0                   # frames that arrived in the period (incl. dropped)
    dropped: int = 0                    # frames not processed (replaced by newer or lost)
    seconds_since_frame: float | None = None  # since the last frame arrived (None: never)
    input_timeout_s: float = 2.0
    input_topic: str = ''
    input_raw: bool = False             # frames taken as their bytes (image_wire), not messages
    worker_alive: bool = True
    worker_died: bool = False           # the worker thread ended in this period (restarted)
    busy_s: float = 0.0                 # > 0: on the frame in progress that long
    input_publishers: int | None = None  # publishers of the input topic (counted when busy)
    worker_stuck_s: float = 0.0         # > 0: on one frame that long while frames arrive
    worker_stuck_held: bool = False     # stuck and not restarted: the replaced one still is
    worker_restarts: int = 0
    model: dict = field(default_factory=dict)  # key -> value, shown under "model"
    use_depth: bool = False
    # (frames with 3D, frames without, why not, depth frames received since start): when active
    depth: tuple | None = None
    tracks: tuple | None = None  # (confirmed tracks now, ids given since configure)


def _status(name: str, hardware_id: str, level: int, message: str,
            values: dict) -> DiagnosticStatus:
    return DiagnosticStatus(
        level=level, name=name, message=message, hardware_id=hardware_id,
        values=[KeyValue(key=str(key), value=_text(value)) for key, value in values.items()])


def _text(value) -> str:
    if value is None:
        return 'n/a'
    if isinstance(value, float):
        return f'{value:.3g}' if abs(value) < 1000 else f'{value:.0f}'
    return str(value)


def build_diagnostics(node_name: str, hardware_id: str, inputs: HealthInputs,
                      stamp=None) -> DiagnosticArray:
    """Return the DiagnosticArray for one period."""
    array = DiagnosticArray()
    if stamp is not None:
        array.header.stamp = stamp
    array.status = [
        lifecycle_status(node_name, hardware_id, inputs),
        input_status(node_name, hardware_id, inputs),
        processing_status(node_name, hardware_id, inputs),
        model_status(node_name, hardware_id, inputs),
    ]
    if inputs.use_depth:
        array.status.append(depth_status(node_name, hardware_id, inputs))
    return array


def depth_status(node_name: str, hardware_id: str, inputs: HealthInputs) -> DiagnosticStatus:
    """use_depth: how many frames got positions in the last period, and why the others did not."""
    name = f'{node_name}: depth'
    if inputs.state != 'active' or inputs.depth is None:
        # Published all the same: an aggregator would show a status that comes and goes STALE.
        return _status(name, hardware_id, OK, f'not active ({inputs.state}): no depth expected',
                       {})
    with_3d, without, reason, received = inputs.depth
    values = {'frames with 3D': with_3d, 'frames without 3D': without,
              'depth frames received since start': received}
    if without:
        values['why not'] = reason
        return _status(name, hardware_id, WARN, f'{without} frames without positions: {reason}',
                       values)
    return _status(name, hardware_id, OK, f'{with_3d} frames with positions', values)


def lifecycle_status(node_name: str, hardware_id: str, inputs: HealthInputs) -> DiagnosticStatus:
    values = {'state': inputs.state}
    if inputs.configure_error and inputs.state == 'unconfigured':
        values['configure error'] = inputs.configure_error
        return _status(f'{node_name}: lifecycle', hardware_id, ERROR,
                       f'configure failed: {inputs.configure_error}', values)
    if inputs.activate_error and inputs.state == 'inactive':
        values['activate error'] = inputs.activate_error
        return _status(f'{node_name}: lifecycle', hardware_id, ERROR,
                       f'activate failed: {inputs.activate_error}', values)
    return _status(f'{node_name}: lifecycle', hardware_id, OK, inputs.state, values)


def input_status(node_name: str, hardware_id: str, inputs: HealthInputs) -> DiagnosticStatus:
    name = f'{node_name}: input'
    if inputs.state != 'active' or inputs.period is None:
        return _status(name, hardware_id, OK, f'not active ({inputs.state}): no input expected',
                       {'topic': inputs.input_topic})
    period = inputs.period
    values = {
        'topic': inputs.input_topic,
        'frames taken as': ('serialized bytes (image_wire)' if inputs.input_raw
                            else 'rclpy messages'),
        'period (s)': period.seconds,
        'frames received': inputs.received,
        'frames processed': period.processed,
        'frames dropped': inputs.dropped,
        'frames rejected': period.rejected,
        'processing rate (Hz)': period.rate_hz,
        'seconds since last frame': inputs.seconds_since_frame,
        'input timeout (s)': inputs.input_timeout_s,
        'seconds on the frame in progress': inputs.busy_s,
        'frames processed since start': period.total_processed,
        'frames rejected since start': period.total_rejected,
    }
    since = inputs.seconds_since_frame
    if inputs.busy_s > 0 and since is not None and since > inputs.input_timeout_s:
        return _busy_input_status(name, hardware_id, inputs, values)
    if since is None or since > inputs.input_timeout_s:
        waited = 'no frame has arrived yet' if since is None else (
            f'no frame for {since:.1f} s (timeout {inputs.input_timeout_s:g} s)')
        return _status(name, hardware_id, WARN, f'{waited} on {inputs.input_topic}', values)
    if period.rejected:
        values['last rejection'] = period.last_rejection
        return _status(name, hardware_id, WARN,
                       f'{period.rejected} frames could not be converted: '
                       f'{period.last_rejection}', values)
    return _status(name, hardware_id, OK, f'{period.rate_hz:.1f} frames/s processed', values)


def _busy_input_status(name: str, hardware_id: str, inputs: HealthInputs,
                       values: dict) -> DiagnosticStatus:
    """
    Return the input status while the worker is on one frame past the input timeout.

    It takes no frame meanwhile, so none arrives by its counts: whether the camera still sends
    is told by the topic's publishers (a stuck worker is the processing status's part).
    """
    busy = (f'busy with one frame for {inputs.busy_s:.1f} s: frames that came meanwhile are '
            'counted when it ends')
    if inputs.input_publishers == 0:
        return _status(name, hardware_id, WARN, f'{inputs.input_topic} has no publisher; {busy}',
                       values)
    return _status(name, hardware_id, OK, busy, values)


def processing_status(node_name: str, hardware_id: str,
                      inputs: HealthInputs) -> DiagnosticStatus:
    name = f'{node_name}: processing'
    if inputs.state != 'active' or inputs.period is None:
        return _status(name, hardware_id, OK, f'not active ({inputs.state})', {})
    period = inputs.period
    values = {
        'latency p50 (ms)': period.latency_ms_p50,
        'latency p95 (ms)': period.latency_ms_p95,
        'inference p50 (ms)': period.inference_ms_p50,
        'failures': period.failed,
        'failures since start': period.total_failed,
        'consecutive failures': period.consecutive_failures,
        'frames without an optional stage': period.degraded,
        'frames without an optional stage since start': period.total_degraded,
        'worker alive': inputs.worker_alive,
        'worker restarts': inputs.worker_restarts,
        **{f'stage {name} mean (ms)': ms for name, ms in period.stage_ms_mean.items()},
    }
    if inputs.tracks is not None:
        values['tracked people'], values['track ids given'] = inputs.tracks
    if not inputs.worker_alive:
        return _status(name, hardware_id, ERROR, 'the frame worker thread is not running '
                       '(being restarted)', values)
    if inputs.worker_died:
        return _status(name, hardware_id, ERROR, 'the frame worker thread died (restarted: a '
                       'new worker thread serves the frames)', values)
    if inputs.worker_stuck_s > 0:
        what = ('not restarted: the worker it replaced is still stuck' if inputs.worker_stuck_held
                else 'restarted')
        return _status(name, hardware_id, ERROR, f'the frame worker has been on one frame for '
                       f'{inputs.worker_stuck_s:.0f} s ({what})', values)
    if period.consecutive_failures >= REPEATED_FAILURES:
        values['last failure'] = period.last_failure
        return _status(name, hardware_id, ERROR, f'estimation failed on the last '
                       f'{period.consecutive_failures} frames: {period.last_failure}', values)
    if period.failed:
        values['last failure'] = period.last_failure
        return _status(name, hardware_id, WARN, f'estimation failed on {period.failed} frames: '
                       f'{period.last_failure}', values)
    if period.degraded:
        values['last optional stage failure'] = period.last_degradation
        return _status(name, hardware_id, WARN, f'{period.degraded} frames published without '
                       f'a failed optional stage: {period.last_degradation}', values)
    if period.latency_ms_p50 is None:
        return _status(name, hardware_id, OK, 'no frame processed in the last period', values)
    return _status(name, hardware_id, OK, f'latency p50 {period.latency_ms_p50:.0f} ms, p95 '
                   f'{period.latency_ms_p95:.0f} ms', values)


def model_status(node_name: str, hardware_id: str, inputs: HealthInputs) -> DiagnosticStatus:
    name = f'{node_name}: model'
    if not inputs.model:
        return _status(name, hardware_id, OK, 'no model loaded (not configured)', {})
    model = inputs.model
    message = (f"{model.get('model')} on {model.get('device')} ({model.get('backend')}), "
               f"stride {model.get('output stride')}, input {model.get('input size')}")
    return _status(name, hardware_id, OK, message, model)
