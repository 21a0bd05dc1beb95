"""Frame latency through posenet_node over DDS, row by row, for one model and inference path."""
from __future__ import annotations

import os

from posenet_tools.bench.grid import BenchOptions, case_of, error_reason, stats


def dds_description(image_reliability: str | None) -> dict:
    """Return what DDS setup the ROS figures were taken with (it matters for large images)."""
    return {'rmw': os.environ.get('RMW_IMPLEMENTATION') or 'default (rmw_fastrtps_cpp)',
            'FASTDDS_BUILTIN_TRANSPORTS': os.environ.get('FASTDDS_BUILTIN_TRANSPORTS'),
            'image_subscription_reliability': image_reliability or 'node default (best effort)'}


def configured_line(node_log: str) -> str | None:
    """Return the node's own 'configured: ...' log line (model, backend, precision), if any."""
    for line in node_log.splitlines():
        if ': configured: ' in line:
            return line.split(': configured: ', 1)[1].strip()
    return None


def latency_figures(result: dict) -> dict:
    """
    Return the statistics of measure_latency's samples.

    With no frame answered (all lost), the error says so instead of a made-up median.
    """
    figures = stats(result['samples'])
    if figures['median'] is None:
        figures['error'] = f"no frame answered ({result['lost']} lost)"
    return figures


def record_latency(row: dict, result: dict, label: str, log) -> None:
    """Put measure_latency's result in the row (`row['ros']`) and log it."""
    row['ros'] = {**latency_figures(result), 'lost': result['lost']}
    row['ros_messages'] = stats(result.get('message_samples', []))
    row.setdefault('samples_ms', {})['ros'] = [round(v, 3) for v in result['samples']]
    lost = f", {result['lost']} lost" if result['lost'] else ''
    if row['ros']['median'] is None:
        log(f"{case_of(row).label} [{label}] through ROS: {row['ros']['error']}")
        return
    log(f"{case_of(row).label} [{label}] through ROS: median {row['ros']['median']:.1f} ms, "
        f"p90 {row['ros']['p90']:.1f} ms{lost}")


class NodeTimer:
    """
    posenet_node of one model and path, timing rows through it as they come; a context manager.

    Started once (its configurations set live), so each row is timed right after its in-process
    timing and before the original's, all three under the same load. A node that cannot start
    or stops answering gives the rows still to come the reason instead of a time.
    """

    def __init__(self, model: str, backend: str | None, config, options: BenchOptions, log,
                 node_parameters: dict | None = None, label: str | None = None):
        self._start = (model, backend, config, options.image_reliability, node_parameters)
        self._options = options
        self._log = log
        self.label = label or str(backend)
        self.info = {'model': model, 'path': self.label, 'parameters': node_parameters or {}}
        self._session = None

    def __enter__(self) -> 'NodeTimer':
        from posenet_tools.bench.ros_session import RosBenchError, RosSession
        try:
            self._session = RosSession(*self._start).__enter__()
        except RosBenchError as error:
            self._failed(error)
            return self
        self.info['configured'] = configured_line(self._session.node.log_text())
        return self

    def time_row(self, row: dict, messages) -> None:
        """Add the row's frame latency through the node (`row['ros']`), or why there is none."""
        from posenet_tools.bench.ros_measure import measure_latency
        from posenet_tools.bench.ros_session import RosBenchError
        if self._session is None:
            row['ros'] = {'median': None, 'error': self.info.get('error')}
            return
        repeat = self._options.ros_repeat
        try:
            result = measure_latency(self._session.client, self._session.node, messages,
                                     case_of(row).config().snapped(),
                                     self._options.repeat if repeat is None else repeat)
        except RosBenchError as error:
            self._failed(error)
            row['ros'] = {'median': None, 'error': self.info['error']}
            return
        record_latency(row, result, self.label, self._log)

    def _failed(self, error: BaseException) -> None:
        self._log(f"{self.info['model']} [{self.label}]: ROS timing failed: {error}")
        self.info['error'] = error_reason(error)
        self.__exit__(None, None, None)

    def __exit__(self, *exc) -> None:
        session, self._session = self._session, None
        if session is not None:
            session.__exit__(None, None, None)
