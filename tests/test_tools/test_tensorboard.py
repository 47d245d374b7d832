# Copyright (c) mmprompt contributors. All rights reserved.
"""TensorBoard through mmengine's visualizer, the way the README shows it.

``tools/train.py`` keeps mmengine's logger: the loss, lr and timings of
``LoggerHook`` go to every backend of ``visualizer.vis_backends``. Two
trainings of the tiny synthetic CoOp write ``events.out.tfevents.*`` under
``<work_dir>/<timestamp>/vis_data``, whose ``loss`` scalars are the losses
of the log: with the README's one option (TensorBoard in place of the local
JSON files) and with a config that inherits the experiment and lists both
backends.
"""
import glob
import os.path as osp
import re

import pytest
# A sibling test module (pytest puts this folder on sys.path).
from test_train_test import data_root  # noqa: F401  (a fixture)
from test_train_test import CONFIG, REPO, _options, _run

pytest.importorskip('tensorboard')
from tensorboard.backend.event_processing.event_accumulator import \
    EventAccumulator  # noqa: E402

# Subprocess trainings: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow

TENSORBOARD = 'visualizer.vis_backends.0.type=TensorboardVisBackend'


def _logged_losses(log):
    """``(iteration, loss)`` of the log's ``Epoch(train) [e][i/n]`` lines."""
    points = []
    for epoch, i, n, loss in re.findall(
            r'Epoch\(train\) +\[(\d+)\]\[ *(\d+)/(\d+)\].*?\bloss: ([0-9.]+)',
            log):
        points.append(((int(epoch) - 1) * int(n) + int(i), float(loss)))
    return points


def _tensorboard_losses(work_dir):
    (events, ) = glob.glob(
        osp.join(work_dir, '*', 'vis_data', 'events.out.tfevents.*'))
    accumulator = EventAccumulator(osp.dirname(events))
    accumulator.Reload()
    assert 'loss' in accumulator.Tags()['scalars']
    assert 'lr' in accumulator.Tags()['scalars']
    return [(e.step, e.value) for e in accumulator.Scalars('loss')]


def _check(log, work_dir):
    logged = _logged_losses(log)
    iters = int(re.search(r'Epoch\(train\) +\[1\]\[ *\d+/(\d+)\]', log)[1])
    assert len(logged) == 2 * iters  # 2 epochs, logged every iteration
    scalars = _tensorboard_losses(work_dir)
    assert [step for step, _ in scalars] == [step for step, _ in logged]
    for (_, value), (_, loss) in zip(scalars, logged):
        assert value == pytest.approx(loss, abs=1e-4)


def test_tensorboard_option(data_root, tmp_path):  # noqa: F811
    """The README's option: TensorBoard in place of the local backend."""
    work = str(tmp_path / 'work')
    log = _run([
        'tools/train.py', CONFIG, '--work-dir', work,
        *_options(data_root, epochs=2), TENSORBOARD
    ], REPO)
    _check(log, work)
    # TensorBoard in place of the local backend: no scalars.json
    assert glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json')) == []


def test_a_config_with_both_backends(data_root, tmp_path):  # noqa: F811
    config = tmp_path / 'coop_tensorboard.py'
    config.write_text(f'_base_ = [{CONFIG!r}]\n'
                      'visualizer = dict(vis_backends=[\n'
                      "    dict(type='LocalVisBackend'),\n"
                      "    dict(type='TensorboardVisBackend'),\n"
                      '])\n')
    work = str(tmp_path / 'work')
    log = _run([
        'tools/train.py',
        str(config), '--work-dir', work, *_options(data_root, epochs=2)
    ], REPO)
    _check(log, work)
    (scalars, ) = glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json'))
    with open(scalars) as f:
        assert sum('"loss"' in line for line in f) == len(_logged_losses(log))
