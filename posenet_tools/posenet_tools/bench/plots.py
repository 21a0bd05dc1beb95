"""posenet_bench's plots: time per frame by input size, and COCO AP against frames per second."""
from __future__ import annotations

import io
from pathlib import Path

from posenet_ros.engine.atomic_write import write_file_atomic


def _path(row: dict) -> str:
    return f"{row['backend']} {row.get('precision', 'float32')}"


def plot_speed(report: dict, path: Path) -> bool:
    """
    Plot the median pipeline time by input size.

    One panel per model x inference path and precision, the original dashed. False (nothing
    written) if no configuration was timed.
    """
    rows = [r for r in report['rows'] if not r.get('error')]
    if not rows:
        return False
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    models = list(dict.fromkeys(r['model'] for r in rows))
    backends = list(dict.fromkeys(_path(r) for r in rows))
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
                        and _path(r) == backend and r['stride'] == stride
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
    _save_figure(fig, path, layout_rect=(0, 0.04 * rows_of_legend + 0.02, 1, 1))
    return True


def plot_ap_vs_fps(report: dict, path: Path) -> bool:
    """COCO AP against frames per second, ours and the original's. False if no AP was measured."""
    from posenet_tools.bench.goals import config_label
    rows = [r for r in report['rows'] if not r.get('error') and r.get('ap') is not None]
    if not rows:
        return False
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = {'float32': 'tab:blue', 'int8': 'tab:green'}
    for row in rows:
        label = config_label(row)
        fps = 1000.0 / row['stages']['pipeline']['median']
        ax.scatter(fps, row['ap'], color=colors.get(row.get('precision'), 'tab:blue'))
        ax.annotate(label, (fps, row['ap']), fontsize=6, xytext=(3, 2), textcoords='offset points')
        original = row.get('original') or {}
        if original.get('median') and row.get('original_ap') is not None:
            orig_fps = 1000.0 / original['median']
            ax.scatter(orig_fps, row['original_ap'], color='tab:orange', marker='x')
            ax.plot([orig_fps, fps], [row['original_ap'], row['ap']], color='grey', lw=0.5)
    for precision in dict.fromkeys(row.get('precision', 'float32') for row in rows):
        ax.scatter([], [], color=colors.get(precision, 'tab:blue'),
                   label=f'posenet_ros {precision}')
    ax.scatter([], [], color='tab:orange', marker='x', label='original (tfjs wasm)')
    ax.set_xscale('log')
    ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel('frames per second (1 / median time)')
    ax.set_ylabel('COCO keypoint AP')
    ax.grid(True, which='both', alpha=0.3)
    ax.legend(fontsize=8)
    _save_figure(fig, path)
    return True


def ros_speedup_bars(rows: list[dict]) -> tuple[list[str], dict[str, list[float]], list[int]]:
    """
    Return the bars of the through-ROS plot: labels, values per precision, the key bars.

    One bar per model, configuration and precision (0 where a precision was not timed): two
    models of the same width are two bars. The key bars are those at the 8x goal's
    configuration.
    """
    from posenet_tools.bench.goals import config_label, is_key_config
    rows = [r for r in rows if r.get('speedup_ros')]
    bars = list(dict.fromkeys((r['model'], config_label(r)) for r in rows))
    values = {}
    for row in rows:
        speedups = values.setdefault(row.get('precision', 'float32'), [0.0] * len(bars))
        speedups[bars.index((row['model'], config_label(row)))] = row['speedup_ros']
    keys = sorted({bars.index((r['model'], config_label(r))) for r in rows if is_key_config(r)})
    return [f'{Path(model).name} {label}' for model, label in bars], values, keys


def plot_ros_speedup(report: dict, path: Path) -> bool:
    """
    Plot how many times as fast as the original each configuration is through ROS.

    One bar per model, configuration and precision, the goals (5x everywhere, 8x at 0.75
    353x481 stride 16 multi) as lines. False if nothing was timed through ROS against the
    original.
    """
    from posenet_tools.bench.goals import KEY_LABEL, ROS_GOAL, ROS_KEY_GOAL
    labels, values, keys = ros_speedup_bars(report['rows'])
    if not labels:
        return False
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    width = 0.8 / len(values)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.45 * len(labels) * len(values) + 2), 4.5))
    for k, (precision, speedups) in enumerate(values.items()):
        xs = [n + (k - (len(values) - 1) / 2) * width for n in range(len(labels))]
        ax.bar(xs, speedups, width, label=precision)
    ax.axhline(ROS_GOAL, color='tab:red', lw=1, ls='--', label=f'goal {ROS_GOAL:g}x')
    for n, key in enumerate(keys):
        ax.plot([key - 0.45, key + 0.45], [ROS_KEY_GOAL] * 2, color='black', lw=1.5,
                label=f'goal {ROS_KEY_GOAL:g}x at {KEY_LABEL}' if n == 0 else '_nolegend_')
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha='right', fontsize=7)
    ax.set_ylabel('x faster than the original, through ROS')
    ax.grid(True, axis='y', alpha=0.3)
    ax.legend(fontsize=7)
    _save_figure(fig, path)
    return True


def _save_figure(fig, path: Path, layout_rect=None) -> None:
    """Lay the figure out (in `layout_rect`), write it atomically (format by suffix), free it."""
    import matplotlib.pyplot as plt
    fig.tight_layout(rect=layout_rect)
    encoded = io.BytesIO()
    fig.savefig(encoded, dpi=120, format=path.suffix.lstrip('.') or 'png')
    write_file_atomic(path, encoded.getvalue())
    plt.close(fig)
