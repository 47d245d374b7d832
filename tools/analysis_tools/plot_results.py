# Copyright (c) mmprompt contributors. All rights reserved.
"""Plot the tables of tools/run_protocol.py: bars and few-shot curves.

Reads the ``OUT.csv`` files that ``tools/run_protocol.py --out OUT`` writes
(columns ``method``, ``seeds``, ``shots`` with ``--shots``, ``base``,
``new``, ``H`` and/or ``top-1``; the accuracies as ``mean ± std`` over the
seeds) and draws, into ``--out-dir``:

- ``base_to_new.<format>``: the rows with base and new accuracy. One panel
  per dataset, and an ``average`` panel when there are several (H of the
  averaged base and new, as ``run_protocol.py --average`` computes it); in
  each, a group of three bars (base, new, H) per method.
- ``few_shot.<format>``: the top-1 rows with a ``shots`` column (one
  ``run_protocol.py --shots K`` call per K), as accuracy over shots per
  method on a log2 axis; one panel per dataset and an average panel.
- ``top1.<format>``: the other top-1 rows (cross-dataset, domain
  generalisation, a few-shot table at one K), bars per method.

Error bars are the std over seeds of the table (population std, as
``run_protocol.py`` prints it), drawn where a row has more than one seed;
H and averages have none. A row's method and dataset come from its config
name, ``<method>_<backbone>_<dataset>[_<protocol>]``
(``coop_vitb16_dtd``: method ``coop``, dataset ``dtd``; a cross-dataset row
``A → B`` is A's method on B's dataset); a name of another form is its own
method. ``average`` rows of the tables are not read: the average panels are
computed from the datasets' rows, over the methods that have them all (for
cross-dataset rows, over the target datasets only, as the table's average).

Examples::

    # base-to-new: zero-shot CLIP and CoOp, seeds 1-3
    python tools/run_protocol.py configs/zeroshot/clip_tinyclip_procdtd.py \\
        configs/coop/coop_tinyclip_procdtd.py --out results/b2n
    python tools/analysis_tools/plot_results.py results/b2n.csv \\
        --out-dir results/figures --methods "clip=zero-shot CLIP" coop=CoOp
    # few-shot curves: one table per number of shots
    for k in 1 2 4 8 16; do python tools/run_protocol.py \\
        configs/coop/coop_tinyclip_procdtd_fewshot4.py --shots $k \\
        --out results/fewshot_$k; done
    python tools/analysis_tools/plot_results.py results/fewshot_*.csv \\
        --out-dir results/figures
"""
import argparse
import csv
import math
import os
import os.path as osp
import sys
import textwrap
from collections import OrderedDict
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)

#: The columns of the tables this tool reads.
REQUIRED = ('method', )
BASE_NEW = ('base', 'new')
TOP1 = 'top-1'
#: Bar colours of base, new and H (matplotlib's tab10).
COLOURS = {
    'base': '#1f77b4',
    'new': '#ff7f0e',
    'H': '#2ca02c',
    TOP1: '#1f77b4'
}
DPI = 100
FORMATS = ('png', 'pdf')


class Row(NamedTuple):
    """One table row, read.

    Attributes:
        file (str): The CSV file.
        label (str): Its ``method`` cell (the config name).
        method (str): The method, from the config name.
        dataset (str): The dataset, from the config name ('' if unknown).
        target (bool): Whether it is a cross-dataset row (``A → B``).
        seeds (int | None): How many seeds.
        shots (int | None): Its ``shots`` cell.
        values (dict): Metric (``base``, ``new``, ``H``, ``top-1``) to
            ``(mean, std)``; ``std`` is None where the table has none.
    """
    file: str
    label: str
    method: str
    dataset: str
    target: bool
    seeds: Optional[int]
    shots: Optional[int]
    values: Dict[str, Tuple[float, Optional[float]]]


def _errors():
    from mmprompt.errors import DataError, PathNotFoundError
    return DataError, PathNotFoundError


def split_name(label: str) -> Tuple[str, str, bool]:
    """The method and dataset of a row, from its config name.

    Args:
        label (str): The row's ``method`` cell, e.g. ``coop_vitb16_dtd``,
            ``kgcoop/coop_vitb16_dtd`` (configs that share a file name) or
            ``coop_vitb16_imagenet_fewshot → coop_vitb16_dtd_fewshot``.

    Returns:
        tuple[str, str, bool]: The method (with the row's folders), the
        dataset ('' if the name does not follow
        ``<method>_<backbone>_<dataset>``) and whether it is a cross-dataset
        row.

    Example:
        >>> split_name('coop_vitb16_imagenet_fewshot → clip_rn50_dtd')
        ('coop', 'dtd', True)
    """
    source, arrow, target = label.partition(' → ')

    def parts(name):
        folders, _, file_name = name.strip().rpartition('/')
        words = file_name.split('_')
        if len(words) < 3:
            return name.strip(), ''
        return (folders + '/' if folders else '') + words[0], words[2]

    method, dataset = parts(source)
    if arrow:
        dataset = parts(target)[1] or target.strip()
    return method, dataset, bool(arrow)


def _value(text: str, path: str, line: int, column: str):
    """``(mean, std)`` of a ``'67.17 ± 0.41'`` or ``'67.17'`` cell."""
    text = (text or '').strip()
    if not text:
        return None
    mean, _, std = text.partition('±')
    try:
        value = (float(mean), float(std) if std.strip() else None)
    except ValueError:
        value = None
    if value is None or not all(v is None or math.isfinite(v) for v in value):
        DataError, _ = _errors()
        raise DataError(
            f'{path} line {line}: column {column!r} holds {text!r}, not a '
            'number or "mean ± std"; give the CSV that '
            'tools/run_protocol.py --out writes')
    return value


def _int(text: str, path: str, line: int, column: str) -> Optional[int]:
    text = (text or '').strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        DataError, _ = _errors()
        raise DataError(f'{path} line {line}: column {column!r} holds '
                        f'{text!r}, not a whole number') from None


def read_table(path: str) -> List[Row]:
    """Read a table of ``tools/run_protocol.py`` (``OUT.csv``).

    Args:
        path (str): The CSV file.

    Returns:
        list[Row]: Its rows, without ``average`` rows.

    Raises:
        PathNotFoundError: If the file does not exist.
        DataError: If it has no rows, lacks the columns (``method`` and
            ``base`` and ``new`` or ``top-1``; the message names those it
            has) or holds a cell that is not a number.
    """
    DataError, PathNotFoundError = _errors()
    if not osp.isfile(path):
        raise PathNotFoundError(
            f'{path}: no such file; give the OUT.csv files that '
            '`tools/run_protocol.py ... --out OUT` writes')
    with open(path, encoding='utf-8', newline='') as f:
        reader = csv.DictReader(f)
        found = [c for c in reader.fieldnames or [] if c is not None]
        records = list(reader)
    expected = ('method, and base and new (with H) or top-1, e.g. '
                'method,seeds,base,new,H or method,seeds,shots,top-1')
    if not found:
        raise DataError(f'{path} is empty: expected a header with the '
                        f'columns {expected}')
    has_bn = all(c in found for c in BASE_NEW)
    if any(c not in found for c in REQUIRED) or not (has_bn or TOP1 in found):
        raise DataError(f'{path} lacks the columns it needs: expected '
                        f'{expected}; found: {", ".join(found)}')
    if not records:
        raise DataError(f'{path} has a header ({", ".join(found)}) but no '
                        'rows; run the protocol first')
    rows = []
    for line, record in enumerate(records, 2):
        label = (record.get('method') or '').strip()
        if not label:
            raise DataError(f'{path} line {line}: the method cell is empty')
        if label == 'average':
            continue
        values = {}
        for column in ('base', 'new', 'H', TOP1):
            if column in found:
                value = _value(record.get(column), path, line, column)
                if value is not None:
                    values[column] = value
        if not (all(c in values for c in BASE_NEW) or TOP1 in values):
            raise DataError(
                f'{path} line {line} ({label}): no numbers for base and new '
                f'nor for top-1 (found: {", ".join(sorted(values)) or "none"})'
            )
        if all(c in values for c in BASE_NEW) and 'H' not in values:
            from mmprompt.evaluation import harmonic_mean
            values['H'] = (harmonic_mean(values['base'][0],
                                         values['new'][0]), None)
        method, dataset, target = split_name(label)
        rows.append(
            Row(path, label, method, dataset, target,
                _int(record.get('seeds'), path, line, 'seeds'),
                _int(record.get('shots'), path, line, 'shots'), values))
    if not rows:
        raise DataError(f'{path} has only an average row; plot_results '
                        'needs the rows of the configs')
    return rows


def parse_methods(specs: Optional[Sequence[str]]):
    """``--methods NAME[=LABEL] ...`` as an ordered dict, or None."""
    if not specs:
        return None
    methods = OrderedDict()
    for spec in specs:
        name, _, label = spec.partition('=')
        methods[name.strip()] = label.strip() or name.strip()
    return methods


def select(rows: List[Row], methods=None) -> List[Row]:
    """Keep, order and rename the methods; refuse a row given twice.

    Args:
        rows (list[Row]): The rows of all tables.
        methods (dict, optional): Method name to the label to show, in
            the order to show them; None keeps all, in table order.

    Returns:
        list[Row]: The rows, with ``method`` the label to show.

    Raises:
        DataError: If a method of ``methods`` is in no table, or two rows
            have the same method, dataset and shots.
    """
    DataError, _ = _errors()
    seen = {}
    for row in rows:
        key = (row.method, row.dataset, row.shots, row.target,
               frozenset(row.values) >= set(BASE_NEW))
        if key in seen:
            raise DataError(
                f'{row.label}' +
                ('' if row.shots is None else f' at {row.shots} shots') +
                f' is in {seen[key]} and in {row.file}; give each table '
                'once (one per number of shots)')
        seen[key] = row.file
    if methods is None:
        return rows
    known = list(OrderedDict.fromkeys(r.method for r in rows))
    missing = [m for m in methods if m not in known]
    if missing:
        raise DataError(f'--methods {" ".join(missing)}: not in the tables; '
                        f'their methods are: {", ".join(known)}')
    order = list(methods)
    chosen = [r for r in rows if r.method in methods]
    chosen.sort(key=lambda r: order.index(r.method))
    return [r._replace(method=methods[r.method]) for r in chosen]


def _panel_name(dataset, shots):
    name = dataset or '(dataset)'
    return name if shots is None else f'{name}, {shots} shots'


def _averages(rows, metrics):
    """Average rows per (method, shots), as run_protocol's --average."""
    from mmprompt.evaluation import harmonic_mean
    out = []
    for shots in OrderedDict.fromkeys(r.shots for r in rows):
        group = [r for r in rows if r.shots == shots]
        datasets = list(OrderedDict.fromkeys(r.dataset for r in group))
        if len(datasets) < 2:
            continue
        for method in OrderedDict.fromkeys(r.method for r in group):
            mine = [r for r in group if r.method == method]
            if any(r.target for r in mine):
                mine = [r for r in mine if r.target]
            elif {r.dataset for r in mine} != set(datasets):
                continue  # not on every dataset: no fair average
            values = {
                m: (sum(r.values[m][0] for r in mine) / len(mine), None)
                for m in metrics if m != 'H'
            }
            if 'H' in metrics:
                values['H'] = (harmonic_mean(values['base'][0],
                                             values['new'][0]), None)
            out.append(
                Row('', 'average', method, 'average', False, None, shots,
                    values))
    return out


def _error(row, metric):
    """The std of a row's metric over several seeds; NaN draws no bar.

    A std of 0 (zero-shot CLIP: no seed changes it) has no bar either.
    """
    std = row.values[metric][1]
    return std if (row.seeds or 0) > 1 and std else math.nan


def _grid(count):
    cols = min(count, 3)
    return cols, int(math.ceil(count / cols))


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def bar_figure(rows: List[Row], metrics: Sequence[str], title: str):
    """Grouped bars: a panel per dataset, a group of bars per method.

    Args:
        rows (list[Row]): Rows that all have ``metrics``.
        metrics (Sequence[str]): The bars of a group, e.g. ``('base',
            'new', 'H')``.
        title (str): The figure's title.

    Returns:
        matplotlib.figure.Figure: The figure; ``fig.axes`` are the panels
        in order (datasets, then ``average``), each bar's height is a
        mean, and each bar with an error bar (a ``BarContainer`` whose
        ``errorbar`` is set) spans mean ± std.
    """
    plt = _pyplot()
    rows = list(rows) + _averages(rows, metrics)
    panels = list(OrderedDict.fromkeys((r.dataset, r.shots) for r in rows))
    methods = list(OrderedDict.fromkeys(r.method for r in rows))
    cols, lines = _grid(len(panels))
    width = max(3.2, 0.42 * len(metrics) * len(methods) + 1.2)
    fig, axes = plt.subplots(
        lines,
        cols,
        figsize=(width * cols, 3.6 * lines + 0.9),
        squeeze=False,
        dpi=DPI)
    bar = 0.8 / len(metrics)
    top = max(r.values[m][0] + (r.values[m][1] or 0) for r in rows
              for m in metrics)
    for ax, (dataset, shots) in zip(axes.flat, panels):
        here = {
            r.method: r
            for r in rows if (r.dataset, r.shots) == (dataset, shots)
        }
        names = [m for m in methods if m in here]
        for i, metric in enumerate(metrics):
            xs = [
                j + (i - (len(metrics) - 1) / 2) * bar
                for j in range(len(names))
            ]
            heights = [here[m].values[metric][0] for m in names]
            errors = [_error(here[m], metric) for m in names]
            ax.bar(
                xs,
                heights,
                bar,
                yerr=None if all(map(math.isnan, errors)) else errors,
                capsize=3,
                color=COLOURS.get(metric),
                label=metric,
                error_kw=dict(lw=1, ecolor='black'))
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(
            names,
            rotation=30 if len(names) > 3 else 0,
            ha='right' if len(names) > 3 else 'center')
        ax.set_title(_panel_name(dataset, shots))
        ax.set_ylim(0, min(100, top * 1.12))
        ax.set_ylabel('accuracy (%)')
        ax.grid(axis='y', alpha=0.3)
        ax.set_axisbelow(True)
    for ax in list(axes.flat)[len(panels):]:
        ax.remove()
    _title_and_legend(fig, title, fig.axes[0], len(metrics))
    return fig


def _title_and_legend(fig, title, ax, columns):
    """The title, and under it the legend of ``ax``, above the panels.

    A title wider than the figure is wrapped, and the figure grows by the
    height of the extra lines.
    """
    width, height = fig.get_size_inches()
    lines = textwrap.wrap(title, max(20, int(width * DPI / 8))) or ['']
    extra = 0.22 * (len(lines) - 1)
    height += extra
    fig.set_size_inches(width, height)
    handles, labels = ax.get_legend_handles_labels()
    fig.suptitle('\n'.join(lines), y=1 - 0.08 / height)
    fig.legend(
        handles,
        labels,
        loc='upper center',
        bbox_to_anchor=(0.5, 1 - (0.32 + extra) / height),
        ncol=columns,
        fontsize='small',
        frameon=False)
    fig.tight_layout(rect=(0, 0, 1, 1 - (0.5 + extra) / height))


def shots_figure(rows: List[Row], title: str):
    """Top-1 over shots, a line per method; a panel per dataset.

    Args:
        rows (list[Row]): Top-1 rows with ``shots``.
        title (str): The figure's title.

    Returns:
        matplotlib.figure.Figure: The figure; in each panel (datasets,
        then ``average``), one ``ErrorbarContainer`` per method, in order,
        whose line holds ``(shots, mean)`` and whose bars span mean ± std.
    """
    plt = _pyplot()
    from matplotlib.ticker import NullLocator
    datasets = list(OrderedDict.fromkeys(r.dataset for r in rows))
    methods = list(OrderedDict.fromkeys(r.method for r in rows))
    curves = [(d, [r for r in rows if r.dataset == d]) for d in datasets]
    if len(datasets) > 1:
        average = []
        for method in methods:
            for shots in sorted({r.shots for r in rows}):
                points = [
                    r.values[TOP1][0] for r in rows
                    if r.method == method and r.shots == shots
                ]
                if len(points) == len(datasets):
                    average.append(
                        Row('', 'average', method, 'average', False, None,
                            shots, {TOP1: (sum(points) / len(points), None)}))
        curves.append(('average', average))
    cols, lines = _grid(len(curves))
    fig, axes = plt.subplots(
        lines,
        cols,
        figsize=(5.6 * cols, 3.8 * lines + 0.9 + 0.25 * (len(methods) > 4)),
        squeeze=False,
        dpi=DPI)
    all_shots = sorted({r.shots for r in rows})
    for ax, (dataset, group) in zip(axes.flat, curves):
        for index, method in enumerate(methods):
            points = sorted((r for r in group if r.method == method),
                            key=lambda r: r.shots)
            if not points:
                continue
            errors = [_error(r, TOP1) for r in points]
            ax.errorbar([r.shots for r in points],
                        [r.values[TOP1][0] for r in points],
                        yerr=None if all(map(math.isnan, errors)) else errors,
                        marker='os^Dv<>p*h'[index % 10],
                        ms=5,
                        capsize=3,
                        lw=1.5,
                        label=method)
        ax.set_xscale('log', base=2)
        ax.set_xticks(all_shots)
        ax.set_xticklabels([str(s) for s in all_shots])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xlabel('shots per class')
        ax.set_ylabel('top-1 accuracy (%)')
        ax.set_title(dataset or '(dataset)')
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(curves):]:
        ax.remove()
    _title_and_legend(fig, title, fig.axes[0], min(len(methods), 4))
    return fig


def figures(rows: List[Row], title: Optional[str] = None):
    """The figures of the rows, by output name.

    Args:
        rows (list[Row]): The selected rows of all tables.
        title (str, optional): The title of every figure; defaults to
            what each shows.

    Returns:
        dict[str, matplotlib.figure.Figure]: ``base_to_new``, ``few_shot``
        and ``top1``, for those the rows have.
    """
    b2n = [r for r in rows if all(c in r.values for c in BASE_NEW)]
    top1 = [r for r in rows if r not in b2n]
    shots = [r for r in top1 if r.shots is not None]
    plain = [r for r in top1 if r.shots is None]
    out = OrderedDict()
    if b2n:
        out['base_to_new'] = bar_figure(
            b2n, ('base', 'new', 'H'), title
            or 'Base-to-new: base / new accuracy and their H')
    if shots:
        out['few_shot'] = shots_figure(shots, title or 'Few-shot top-1')
    if plain:
        out['top1'] = bar_figure(plain, (TOP1, ), title or 'Top-1 accuracy')
    return out


def main(argv=None):
    """Read the tables, write the figures; return their paths by name."""
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split('\n', 1)[1])
    parser.add_argument(
        'csv', nargs='+', help='OUT.csv files of tools/run_protocol.py')
    parser.add_argument(
        '--out-dir', required=True, help='where to write the figures')
    parser.add_argument(
        '--methods',
        nargs='+',
        metavar='NAME[=LABEL]',
        help='the methods to show, in this order, e.g. coop=CoOp '
        '"clip=zero-shot CLIP" (NAME: the config name before the first _)')
    parser.add_argument('--title', help='the title of every figure')
    parser.add_argument('--format', choices=FORMATS, default='png')
    parser.add_argument(
        '--debug',
        action='store_true',
        help='show the traceback of a user error')
    args = parser.parse_args(argv)
    rows = [row for path in args.csv for row in read_table(path)]
    rows = select(rows, parse_methods(args.methods))
    os.makedirs(args.out_dir, exist_ok=True)
    written = OrderedDict()
    plt = _pyplot()
    for name, fig in figures(rows, args.title).items():
        path = osp.join(args.out_dir, f'{name}.{args.format}')
        fig.savefig(path, dpi=DPI)
        plt.close(fig)
        written[name] = path
        print(f'saved {path}')
    return written


if __name__ == '__main__':
    from mmprompt.cli import run_tool

    run_tool(main, debug='--debug' in sys.argv[1:])
