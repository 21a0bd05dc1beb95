"""posenet_bench's reports: the Markdown page, the console table, the files written."""
from __future__ import annotations

import json
from pathlib import Path

from posenet_ros.engine.atomic_write import write_file_atomic
from posenet_tools.bench.goals import config_label, goal_lines
from posenet_tools.bench.grid import (case_of, MULTI_SETTINGS, stage_median, STAGE_TITLES,
                                      STAGES)
from posenet_tools.bench.plots import plot_ap_vs_fps, plot_ros_speedup, plot_speed


def _ms(stat: dict | None) -> str:
    if not stat or stat.get('median') is None:
        return '-'
    return f"{stat['median']:.1f} / {stat['p90']:.1f}"


def to_markdown(report: dict) -> str:
    """
    Return the report as a Markdown page.

    How it was measured, the goals, one row per configuration and precision (the node's
    paths), every stage of every path, then the camera-rate runs.
    """
    meta = report['meta']
    machine = meta['machine']
    lines = ['# posenet_ros benchmark', '',
             f"{meta['date']}, `{meta['command']}`", '',
             f"Machine: {machine.get('cpu') or '?'}, {machine.get('cores')} cores; TensorFlow "
             f"{machine.get('tensorflow', '?')}, Python {machine.get('python')}. Load average "
             f"{meta.get('load_average_start')} at start, {meta.get('load_average_end')} at end.",
             '',
             f"{meta['samples_per_config']} timed runs per configuration ({len(meta['photos'])} "
             f"photos x {meta['repeat']}) after warm-up; "
             'cells are median / 90th percentile in ms. '
             f"Multi-pose decoding uses max {MULTI_SETTINGS['max_pose_detections']}, score "
             f"{MULTI_SETTINGS['score_threshold']}, NMS radius {MULTI_SETTINGS['nms_radius']:g}. "
             "'pipeline' is the in-process path from the image message "
             f"({meta['ros_image_encoding']}) to the PoseArray message; 'network' its inference "
             "stage. 'ROS' (the node's path at each precision: the first inference path in "
             'float32, tflite in int8; a node process per precision) is publish-to-receive time '
             'through posenet_node in another process over DDS, one frame at a time, the '
             "PoseArray read into arrays (`pose_array_wire.decode`); 'ROS, messages' adds what "
             'taking it as rclpy messages costs. '
             "'x faster' is the original's median estimate time over our median (pipeline; ROS); "
             "'int8 network x' float32's network median over int8's, timed in turns.",
             '']
    int8 = meta.get('int8_calibration')
    if int8:
        lines += ['int8: the tflite path, calibrated per input size and stride before timing '
                  f"(not counted) on {int8['frames']} frames: {int8['source']}.", '']
    if meta.get('dds'):
        dds = meta['dds']
        lines += [f"DDS: {dds['rmw']}, FASTDDS_BUILTIN_TRANSPORTS="
                  f"{dds['FASTDDS_BUILTIN_TRANSPORTS'] or 'unset'}, image subscription "
                  f"{dds['image_subscription_reliability']}.", '']
    if meta.get('original'):
        lines += [f"Original: {meta['original']}, same weights, photos and configuration; "
                  'stride 8 with the dilations as trained.', '']
    if report.get('goals'):
        lines += ['## Goals', ''] + goal_lines(report['goals']) + ['']
    lines += ['## Per precision', ''] + precision_table(report['rows'])
    lines += ['', '## Every stage, every path', '']
    has_ap = any('ap' in row for row in report['rows'])
    has_ros = any('ros' in row for row in report['rows'])
    header = ['model', 'stride', 'input', 'decoding', 'path', 'precision']
    header += [STAGE_TITLES[s] for s in STAGES]
    header += (['ROS'] if has_ros else []) + ['original', 'x faster']
    if has_ap:
        header += ['AP', 'original AP']
    lines += ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row in report['rows']:
        cells = [row['model'], str(row['stride']), row['resolution'], row['mode'],
                 str(row['backend']), row.get('precision', 'float32')]
        if row.get('error'):
            cells += [f"n/a: {row['error']}"] + [''] * (len(header) - len(cells) - 1)
        else:
            cells += [_ms(row['stages'][s]) for s in STAGES]
            if has_ros:
                cells.append(_ms(row.get('ros')))
            original = row.get('original')
            cells.append(_ms(original) if original and not original.get('error')
                         else ('-' if not original else 'failed'))
            ratios = [f'{row[k]:.1f}x' for k in ('speedup', 'speedup_ros') if row.get(k)]
            cells.append('; '.join(ratios) or '-')
            if has_ap:
                cells.append(f"{row['ap']:.3f}" if row.get('ap') is not None else '-')
                cells.append(f"{row['original_ap']:.3f}" if row.get('original_ap') is not None
                             else '-')
        lines.append('| ' + ' | '.join(c.replace('|', '/') for c in cells) + ' |')
    for camera in report.get('cameras', []):
        precision = camera.get('precision', 'float32')
        lines += ['', f'## Under a camera rate, {precision}', '',
                  f"posenet_node ({camera['config']}, {precision}, "
                  f"{camera.get('backend', 'default')} path) fed "
                  f"{camera['frame']} frames at a fixed rate; age = now - header.stamp when the "
                  'PoseArray arrives; the node processes only the newest frame, the others count '
                  'as dropped. RSS: the node process, after warm-up and at the end.', '']
        if camera.get('error'):
            lines.append(f"Failed: {camera['error']}")
            continue
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


def _x(value) -> str:
    return f'{value:.1f}x' if value else '-'


def precision_table(rows: list[dict]) -> list[str]:
    """
    Return the Markdown table of the node's paths: one row per configuration and precision.

    Medians in ms: network (the inference stage), in process (image message to PoseArray),
    through ROS, the original; our speed-ups over it; int8's network over float32's; AP.
    """
    rows = [row for row in rows if row.get('primary', True) and not row.get('error')]
    has_ap = any('ap' in row for row in rows)
    header = ['configuration', 'precision', 'network ms', 'in process ms', 'ROS ms',
              'ROS, messages ms', 'original ms', 'x faster in process', 'x faster ROS',
              'x faster ROS, messages', 'int8 network x']
    header += ['AP', 'original AP'] if has_ap else []
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row in rows:
        medians = [stage_median(row, 'inference'), stage_median(row, 'pipeline'),
                   (row.get('ros') or {}).get('median'),
                   (row.get('ros_messages') or {}).get('median'),
                   (row.get('original') or {}).get('median')]
        cells = [config_label(row), row.get('precision', 'float32')]
        cells += [f'{value:.1f}' if value else '-' for value in medians]
        cells += [_x(row.get('speedup')), _x(row.get('speedup_ros')),
                  _x(row.get('speedup_ros_messages')), _x(row.get('int8_network_speedup'))]
        if has_ap:
            cells += [f'{row[key]:.3f}' if row.get(key) is not None else '-'
                      for key in ('ap', 'original_ap')]
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def _mib(value) -> str:
    return f'{value:.0f} MiB' if value is not None else '-'


def to_text_table(report: dict) -> str:
    """
    Return a compact console table.

    Estimate, pipeline and ROS median / p90, the original, ratios.
    """
    lines = [f"{'configuration':<44} {'path':<14} {'estimate':>13} {'pipeline':>13} {'ROS':>13} "
             f"{'original':>9} {'x faster':>12}"]
    for row in report['rows']:
        label = case_of(row).label
        path = f"{row['backend']} {row.get('precision', 'float32')}"
        if row.get('error'):
            lines.append(f"{label:<44} {path:<14} n/a: {row['error'][:70]}")
            continue
        original = row.get('original') or {}
        orig = f"{original['median']:9.1f}" if original.get('median') else f"{'-':>9}"
        ratio = '; '.join(f'{row[k]:.1f}x' for k in ('speedup', 'speedup_ros') if row.get(k))
        lines.append(f"{label:<44} {path:<14} {_ms(row['stages']['estimate']):>13} "
                     f"{_ms(row['stages']['pipeline']):>13} {_ms(row.get('ros')):>13} {orig} "
                     f"{ratio or '-':>12}")
    for camera in report.get('cameras', []):
        precision = camera.get('precision', 'float32')
        if camera.get('error'):
            lines.append(f"camera-rate run ({precision}) failed: {camera['error']}")
            continue
        lines.append(f"camera ({camera['config']}, {precision}, {camera['frame']}): "
                     f"single-frame latency {_ms(camera.get('latency'))} ms")
        for run in camera['runs']:
            lines.append(
                f"  {run['rate_hz']:g} Hz: age p50 {run['age_p50_ms']:.1f} / p99 "
                f"{run['age_p99_ms']:.1f} ms, {run['processed_per_s']:.1f} frames/s, "
                f"{run['dropped']}/{run['published']} dropped, "
                f"RSS {_mib(run['rss_start_mib'])} -> {_mib(run['rss_end_mib'])}")
    lines += [line[2:] for line in goal_lines(report.get('goals') or [])]
    return '\n'.join(lines)


def write_report(report: dict, out_stem: Path, plots: bool = True) -> list[Path]:
    """
    Write NAME.json, NAME.md and (with plots) NAME_speed.png, NAME_ap_fps.png, NAME_ros_x.png.

    Return the files written: a plot with nothing to show is not.
    """
    written = []
    json_path = out_stem.with_name(out_stem.name + '.json')
    write_file_atomic(json_path, json.dumps(report, indent=1))
    written.append(json_path)
    md_path = out_stem.with_name(out_stem.name + '.md')
    write_file_atomic(md_path, to_markdown(report))
    written.append(md_path)
    if plots:
        speed = out_stem.with_name(out_stem.name + '_speed.png')
        if plot_speed(report, speed):
            written.append(speed)
        ap_fps = out_stem.with_name(out_stem.name + '_ap_fps.png')
        if plot_ap_vs_fps(report, ap_fps):
            written.append(ap_fps)
        ros_x = out_stem.with_name(out_stem.name + '_ros_x.png')
        if plot_ros_speedup(report, ros_x):
            written.append(ros_x)
    return written
