# Copyright (c) mmprompt contributors. All rights reserved.
"""tools/analysis_tools/plot_results.py on tables of tools/run_protocol.py.

The tables are written by ``run_protocol.py --collect`` over hand-written
``metrics.json`` files, so the plots are checked against the real CSV
format; the drawn bar heights, error bars and curve points are compared
with the means and stds of the metrics.
"""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.container import BarContainer
from PIL import Image

from mmprompt.errors import DataError, PathNotFoundError
from mmprompt.evaluation import harmonic_mean

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'plot_results.py')
PROTOCOL = osp.join(REPO, 'tools', 'run_protocol.py')


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


plot = _load('plot_results', TOOL)

# method x dataset -> base / new accuracy of seeds 1, 2, 3.
B2N = {
    ('coop', 'dtd'): [(80., 50.), (82., 52.), (81., 57.)],
    ('coop', 'eurosat'): [(90., 60.), (92., 70.), (94., 80.)],
    ('clip', 'dtd'): [(60., 55.)] * 3,
    ('clip', 'eurosat'): [(70., 65.)] * 3,
}
CONFIGS = {
    'coop': 'configs/coop/coop_vitb16_{}.py',
    'clip': 'configs/zeroshot/clip_vitb16_{}.py'
}
# shots -> top-1 of seeds 1, 2 of CoOp (zero-shot: the same for both).
FEWSHOT = {1: [40., 44.], 2: [47., 50.], 4: [52., 55.5]}
ZERO_SHOT_TOP1 = 46.5


def _metrics(path, **values):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(values, f)


@pytest.fixture
def protocol(monkeypatch):
    monkeypatch.chdir(REPO)
    return _load('run_protocol_for_plots', PROTOCOL)


@pytest.fixture
def b2n_csv(protocol, tmp_path):
    """run_protocol's table of CoOp and zero-shot CLIP on DTD and EuroSAT."""
    work = str(tmp_path / 'work')
    for (method, dataset), values in B2N.items():
        name = osp.splitext(osp.basename(CONFIGS[method].format(dataset)))[0]
        for seed, (b, n) in enumerate(values, 1):
            _metrics(
                osp.join(work, name, f'seed{seed}', 'metrics.json'), **{
                    'base/top1': b,
                    'new/top1': n
                })
    out = str(tmp_path / 'b2n')
    protocol.main([CONFIGS[m].format(d) for m, d in B2N] +
                  ['--work-dir', work, '--collect', '--average', '--out', out])
    return out + '.csv'


@pytest.fixture
def fewshot_csvs(protocol, tmp_path):
    """One run_protocol --shots K table per K: CoOp (2 seeds), zero-shot."""
    work = str(tmp_path / 'work')
    coop = 'configs/coop/coop_vitb16_dtd_fewshot.py'
    zero_shot = 'configs/zeroshot/clip_vitb16_dtd_fewshot.py'
    paths = []
    for shots, values in FEWSHOT.items():
        for seed, top1 in enumerate(values, 1):
            _metrics(
                osp.join(work, 'coop_vitb16_dtd_fewshot', f'shots{shots}',
                         f'seed{seed}', 'metrics.json'),
                **{'accuracy/top1': top1})
        for seed in (1, 2):
            _metrics(
                osp.join(work, 'clip_vitb16_dtd_fewshot', f'shots{shots}',
                         f'seed{seed}', 'metrics.json'),
                **{'accuracy/top1': ZERO_SHOT_TOP1})
        out = str(tmp_path / f'fewshot_{shots}')
        protocol.main([
            coop, zero_shot, '--seeds', '1', '2', '--shots',
            str(shots), '--work-dir', work, '--collect', '--out', out
        ])
        paths.append(out + '.csv')
    return paths


def _bars(ax):
    """[(label, heights, (lower, upper) of error bars or None)] of a panel."""
    out = []
    for container in ax.containers:
        if not isinstance(container, BarContainer):
            continue  # the ErrorbarContainer of a bar's error bars
        heights = [p.get_height() for p in container.patches]
        spans = None
        if container.errorbar is not None:
            segments = container.errorbar.lines[2][0].get_segments()
            spans = {}
            for seg in segments:
                if len(seg) == 0:
                    continue  # a NaN error: no bar drawn
                spans[round(float(seg[0][0]), 6)] = (seg[0][1], seg[1][1])
            xs = [
                round(p.get_x() + p.get_width() / 2, 6)
                for p in container.patches
            ]
            spans = [spans.get(x) for x in xs]
        out.append((container.get_label(), heights, spans))
    return out


def test_the_table_format_is_the_one_run_protocol_writes(b2n_csv):
    with open(b2n_csv, encoding='utf-8') as f:
        header, first = f.readline().strip(), f.readline().strip()
    assert header == 'method,seeds,base,new,H'
    assert first == 'coop_vitb16_dtd,3,81.00 ± 0.82,53.00 ± 2.94,' \
        f'{harmonic_mean(81, 53):.2f}'
    rows = plot.read_table(b2n_csv)
    # the average row is not read: plot_results computes its own
    assert [(r.method, r.dataset, r.seeds)
            for r in rows] == [('coop', 'dtd', 3), ('coop', 'eurosat', 3),
                               ('clip', 'dtd', 3), ('clip', 'eurosat', 3)]
    assert rows[1].values['new'] == (70.0, 8.16)


def test_base_to_new_bars_show_the_means_and_stds(b2n_csv, tmp_path):
    written = plot.main([
        b2n_csv, '--out-dir',
        str(tmp_path / 'figs'), '--methods', 'clip=zero-shot CLIP', 'coop=CoOp'
    ])
    assert list(written) == ['base_to_new']
    path = written['base_to_new']
    assert path == str(tmp_path / 'figs' / 'base_to_new.png')
    with Image.open(path) as image:
        image.load()
        assert image.format == 'PNG'
        size = image.size

    rows = plot.select(
        plot.read_table(b2n_csv),
        plot.parse_methods(['clip=zero-shot CLIP', 'coop=CoOp']))
    fig = plot.figures(rows)['base_to_new']
    width, height = fig.get_size_inches() * plot.DPI
    assert size == (round(width), round(height))
    # one panel per dataset and the average
    assert [ax.get_title() for ax in fig.axes] == ['dtd', 'eurosat', 'average']
    for ax, dataset in zip(fig.axes, ('dtd', 'eurosat')):
        assert [t.get_text() for t in ax.get_xticklabels()] == \
            ['zero-shot CLIP', 'CoOp']
        bars = _bars(ax)
        assert [label for label, _, _ in bars] == ['base', 'new', 'H']
        for index, (label, heights, spans) in enumerate(bars):
            expected, stds = [], []
            for method in ('clip', 'coop'):
                values = np.array(B2N[(method, dataset)])
                means = values.mean(0)
                if label == 'H':
                    expected.append(harmonic_mean(*means))
                    stds.append(None)
                else:
                    expected.append(means[index])
                    # the table's (population) std, drawn for 3 seeds
                    stds.append(values[:, index].std())
            np.testing.assert_allclose(heights, expected, atol=0.006)
            if label == 'H' or all(s == 0 for s in stds):
                assert spans is None or all(s is None or s[0] == s[1]
                                            for s in spans)
                continue
            for height, std, span in zip(heights, stds, spans):
                if std == 0:
                    continue
                np.testing.assert_allclose(
                    span, (height - std, height + std), atol=0.006)
    # the average: mean base and new over the datasets, H of those means
    average = {label: heights for label, heights, _ in _bars(fig.axes[2])}
    for i, method in enumerate(('clip', 'coop')):
        means = np.mean(
            [np.mean(B2N[(method, d)], 0) for d in ('dtd', 'eurosat')], 0)
        np.testing.assert_allclose(
            [average['base'][i], average['new'][i], average['H'][i]],
            [means[0], means[1], harmonic_mean(*means)],
            atol=0.006)
    assert all(spans is None for _, _, spans in _bars(fig.axes[2]))
    # the legend names the three bars
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ['base', 'new', 'H']


def test_few_shot_curves_over_shots(fewshot_csvs, tmp_path):
    with open(fewshot_csvs[0], encoding='utf-8') as f:
        assert f.readline().strip() == 'method,seeds,shots,top-1'
    written = plot.main(
        fewshot_csvs +
        ['--out-dir', str(tmp_path), '--title', 'DTD'])
    assert list(written) == ['few_shot']
    with Image.open(written['few_shot']) as image:
        image.load()
        size = image.size
    rows = [r for p in fewshot_csvs for r in plot.read_table(p)]
    fig = plot.figures(plot.select(rows), title='DTD')['few_shot']
    width, height = fig.get_size_inches() * plot.DPI
    assert size == (round(width), round(height))
    assert fig._suptitle.get_text() == 'DTD'
    (ax, ) = fig.axes
    assert ax.get_xscale() == 'log'
    assert [t.get_text() for t in ax.get_xticklabels()] == ['1', '2', '4']
    assert ax.get_xlabel() == 'shots per class'
    coop, zero_shot = ax.containers
    assert coop.get_label() == 'coop' and zero_shot.get_label() == 'clip'
    xs, ys = (np.asarray(a, dtype=float) for a in coop.lines[0].get_data())
    assert list(xs) == [1, 2, 4]
    np.testing.assert_allclose(
        ys, [np.mean(v) for v in FEWSHOT.values()], atol=0.006)
    segments = coop.lines[2][0].get_segments()
    for (shots, values), y, seg in zip(FEWSHOT.items(), ys, segments):
        assert seg[0][0] == shots
        np.testing.assert_allclose([seg[0][1], seg[1][1]],
                                   [y - np.std(values), y + np.std(values)],
                                   atol=0.006)
    # a title wider than the figure is wrapped, and the figure grows
    long = plot.figures(plot.select(rows), title='word ' * 40)['few_shot']
    lines = long._suptitle.get_text().split('\n')
    assert len(lines) > 1 and ' '.join(lines) == ('word ' * 40).strip()
    assert long.get_size_inches()[1] > fig.get_size_inches()[1]
    # no spread over the seeds: no error bars
    assert zero_shot.has_yerr is False
    np.testing.assert_allclose(
        np.asarray(zero_shot.lines[0].get_data()[1], dtype=float),
        [ZERO_SHOT_TOP1] * 3)


def test_top1_bars_and_pdf(tmp_path):
    table = tmp_path / 'xd.csv'
    table.write_text(
        'method,seeds,top-1\n'
        'coop_vitb16_imagenet_fewshot,3,71.00 ± 1.00\n'
        'coop_vitb16_imagenet_fewshot → coop_vitb16_dtd_fewshot,3,'
        '41.00 ± 2.00\n'
        'coop_vitb16_imagenet_fewshot → coop_vitb16_eurosat_fewshot,3,'
        '45.00 ± 3.00\n'
        'average,,43.00\n',
        encoding='utf-8')
    written = plot.main(
        [str(table), '--out-dir',
         str(tmp_path), '--format', 'pdf'])
    with open(written['top1'], 'rb') as f:
        assert f.read(5) == b'%PDF-'
    fig = plot.figures(plot.read_table(str(table)))['top1']
    assert [ax.get_title()
            for ax in fig.axes] == ['imagenet', 'dtd', 'eurosat', 'average']
    # the cross-dataset average is over the targets only
    assert _bars(fig.axes[3])[0][1] == [43.0]
    assert _bars(fig.axes[1])[0][2] == [(39.0, 43.0)]


def test_method_and_dataset_from_config_names():
    assert plot.split_name('coop_vitb16_dtd') == ('coop', 'dtd', False)
    assert plot.split_name('vpt-deep_tinyclip_procdtd') == ('vpt-deep',
                                                            'procdtd', False)
    assert plot.split_name('kgcoop/coop_vitb16_dtd') == ('kgcoop/coop', 'dtd',
                                                         False)
    assert plot.split_name('my-run') == ('my-run', '', False)
    assert plot.split_name('coop_vitb16_imagenet_fewshot → '
                           'coop_vitb16_imagenet-a') == ('coop', 'imagenet-a',
                                                         True)


@pytest.mark.parametrize(
    'text, message',
    [(None, r'^{path}: no such file; give the OUT.csv files that '
      r'`tools/run_protocol.py ... --out OUT` writes$'),
     ('', r'^{path} is empty: expected a header with the columns method, '
      r'and base and new \(with H\) or top-1'),
     ('method,seeds,base,new,H\n', r'^{path} has a header \(method, seeds, '
      r'base, new, H\) but no rows; run the protocol first$'),
     ('method,seeds,base,H\ncoop_vitb16_dtd,3,80.00 ± 1.00,70.00\n',
      r'^{path} lacks the columns it needs: expected method, and base and '
      r'new \(with H\) or top-1, e.g. method,seeds,base,new,H or '
      r'method,seeds,shots,top-1; found: method, seeds, base, H$'),
     ('name,top1\nx,3\n', r'^{path} lacks the columns it needs: .*; found: '
      r'name, top1$'),
     ('method,seeds,top-1\ncoop_vitb16_dtd,3,high\n',
      r"^{path} line 2: column 'top-1' holds 'high', not a number or "
      r'"mean ± std"'),
     ('method,seeds,top-1\naverage,,50.00\n',
      r'^{path} has only an average row')])
def test_bad_tables_are_named_with_what_they_lack(tmp_path, text, message):
    path = tmp_path / 'table.csv'
    if text is not None:
        path.write_text(text, encoding='utf-8')
    error = PathNotFoundError if text is None else DataError
    import re
    with pytest.raises(error, match=message.format(path=re.escape(str(path)))):
        plot.read_table(str(path))


def test_unknown_methods_and_tables_given_twice(b2n_csv, tmp_path):
    rows = plot.read_table(b2n_csv)
    with pytest.raises(
            DataError,
            match=r'^--methods cocoop: not in the tables; their methods '
            r'are: coop, clip$'):
        plot.select(rows, plot.parse_methods(['coop', 'cocoop']))
    with pytest.raises(
            DataError,
            match=r'^coop_vitb16_dtd is in .*b2n.csv and in .*b2n.csv; give '
            'each table once'):
        plot.select(rows + rows)
    kept = plot.select(rows, plot.parse_methods(['coop=CoOp']))
    assert [(r.method, r.dataset) for r in kept] == [('CoOp', 'dtd'),
                                                     ('CoOp', 'eurosat')]


def test_the_command_line_stops_with_one_error_line(tmp_path):
    missing = str(tmp_path / 'nope.csv')
    proc = subprocess.run(
        [sys.executable, TOOL, missing, '--out-dir',
         str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120)
    assert proc.returncode == 2
    assert proc.stderr == f'error: {missing}: no such file; give the ' \
        'OUT.csv files that `tools/run_protocol.py ... --out OUT` writes\n'
    assert os.listdir(tmp_path) == []
