# Copyright (c) mmprompt contributors. All rights reserved.
"""mmprompt.progress: mmengine log lines -> a status line (TTY) or lines."""
import importlib.util
import io
import os.path as osp
import sys
import textwrap

import pytest

from mmprompt.progress import LogState, Progress, format_seconds, run_logged

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

# Lines as mmengine 0.10 writes them (from a CoOp run on the procedural
# mini-DTD), with the config dump's train_cfg.
CONFIG_LINE = 'train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=50)'
TRAIN_LINE = ('12/02 03:45:47 - mmengine - INFO - Epoch(train) [13][8/8]  '
              'lr: 1.9e-03  eta: 0:00:39  time: 0.0743  data_time: 0.0142  '
              'loss: 0.8123')
TEST_LINES = [
    '12/02 04:28:17 - mmengine - INFO - Epoch(test) [10/12]    eta: '
    '0:00:03  time: 1.6505  data_time: 0.0092  ',
    '12/02 04:28:19 - mmengine - INFO - Epoch(test) [12/12]    base/top1: '
    '66.1667  new/top1: 68.0357  hm: 67.0882  data_time: 0.0090  time: 1.56'
]


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


def test_format_seconds():
    assert format_seconds(65) == '0:01:05'
    assert format_seconds(3725.4) == '1:02:05'
    assert format_seconds(-3) == '0:00:00'
    assert format_seconds(None) == '--:--:--'


def test_log_state_reads_mmengine_lines():
    clock = Clock()
    state = LogState(clock)
    assert state.describe() == 'starting' and state.eta is None
    assert not state.feed('max_epochs = 200')  # a variable, not train_cfg
    assert state.max_epochs is None
    state.feed(CONFIG_LINE)
    assert state.max_epochs == 50
    assert state.feed(TRAIN_LINE)
    assert (state.phase, state.epoch, state.iter, state.iters,
            state.loss) == ('train', 13, 8, 8, 0.8123)
    assert state.describe() == 'train epoch 13/50 iter 8/8 | loss 0.8123'
    assert state.eta == 39
    clock.now += 10  # the ETA counts down from the line's
    assert state.eta == 29
    assert not state.feed('12/02 03:45:47 - mmengine - INFO - Exp name: x')
    # a validation inside training keeps the epoch
    state.feed('Epoch(val) [13][ 5/12]    eta: 0:00:02  time: 0.1')
    assert state.describe() == 'val (epoch 13/50) 5/12'
    for line in TEST_LINES:
        state.feed(line)
    assert state.describe() == 'test 12/12'
    assert state.eta == 0  # the last test line has no eta: done


def test_log_state_multiline_config_days_and_iterations():
    state = LogState(Clock())
    for line in ('train_cfg = dict(', '    by_epoch=True,',
                 '    max_epochs=200,', '    val_interval=20)'):
        state.feed(line)
    assert state.max_epochs == 200
    state.feed('Epoch(train)   [2][ 10/120]  eta: 1 day, 2:03:04  loss: 2.5e-1'
               '  loss_cls: 9.0')
    assert state.describe() == 'train epoch 2/200 iter 10/120 | loss 0.2500'
    assert state.eta == ((24 + 2) * 60 + 3) * 60 + 4
    state = LogState(Clock())
    state.feed('train_cfg = dict(type="IterBasedTrainLoop", max_iters=1000)')
    state.feed('Iter(train) [ 40/1000]  lr: 1e-3  eta: 0:01:00  loss: 1.25')
    assert state.describe() == 'train iter 40/1000 | loss 1.2500'


def test_not_a_terminal_prints_plain_lines_at_most_every_interval():
    clock, stream = Clock(), io.StringIO()
    progress = Progress(total=6, stream=stream, interval=30, clock=clock)
    assert not progress.tty
    progress.start(2, 'coop_tinyclip_procdtd seed 1')
    progress.step('train')
    assert stream.getvalue() == '[2/6] coop_tinyclip_procdtd seed 1: started\n'
    progress.feed(CONFIG_LINE)
    progress.feed(TRAIN_LINE)
    clock.now += 29
    progress.refresh()  # not yet 30 s since the last line
    assert stream.getvalue().count('\n') == 1
    clock.now += 2
    progress.refresh()
    lines = stream.getvalue().splitlines()
    assert lines[1] == ('[2/6] coop_tinyclip_procdtd seed 1 | train epoch '
                        '13/50 iter 8/8 | loss 0.8123 | elapsed 0:00:31 | '
                        'eta 0:00:08')
    progress.refresh()
    assert len(stream.getvalue().splitlines()) == 2
    progress.write('[2/6] coop_tinyclip_procdtd seed 1: base 67.67 (61 s)')
    text = stream.getvalue()
    assert text.splitlines()[-1].endswith('base 67.67 (61 s)')
    assert '\r' not in text and '\x1b' not in text


def test_a_terminal_gets_one_status_line_redrawn():
    clock, stream = Clock(), Terminal()
    progress = Progress(total=3, stream=stream, clock=clock, width=200)
    assert progress.tty
    progress.start(1, 'CoOp, train configs/coop/coop_tinyclip_procdtd.py')
    progress.step('train')
    first = stream.getvalue()
    assert first == ('\r[1/3] CoOp, train configs/coop/coop_tinyclip_'
                     'procdtd.py | starting | elapsed 0:00:00 | eta '
                     '--:--:--')
    progress.feed(CONFIG_LINE)
    progress.feed(TRAIN_LINE)
    clock.now += 5
    progress.refresh()
    redrawn = stream.getvalue()[len(first):]
    assert redrawn.startswith('\r[1/3] CoOp')
    assert '\n' not in redrawn
    assert 'train epoch 13/50 iter 8/8 | loss 0.8123 | elapsed 0:00:05 | ' \
        'eta 0:00:34' in redrawn
    # a shorter status is padded over the longer one
    progress.step('test')
    shown = len(redrawn) - 1
    progress.refresh()
    last = stream.getvalue().rsplit('\r', 1)[1]
    assert last.rstrip(' ').endswith('| test: starting | elapsed 0:00:05 | '
                                     'eta --:--:--')
    assert len(last) == shown
    # the result replaces the status (blanked: the screen holds the text)
    progress.write('[1/3] CoOp: done (5 s)')
    assert stream.getvalue().endswith('\r' + ' ' * len(last.rstrip(' ')) +
                                      '\r[1/3] CoOp: done (5 s)\n')


def _writer(tmp_path, lines, code=0, go=None, name='fake_train.py'):
    """A script that writes log lines over time, as a training does.

    With ``go``, it exits only once that file exists: the test creates it
    when the progress has read the last line, so what is shown while the
    run goes does not depend on the machine's speed.
    """
    script = tmp_path / name
    script.write_text(
        textwrap.dedent(f'''
        import os, sys, time
        go = {go!r}
        for line in {lines!r}:
            print(line, flush=True)
            time.sleep(0.05)
        for _ in range(3000):  # at most a minute
            if go is None or os.path.exists(go):
                break
            time.sleep(0.02)
        sys.exit({code})
        '''))
    return str(script)


def _handshake(progress, go, last):
    """Record the lines fed to ``progress``; create ``go`` at ``last``."""
    seen = []
    feed = progress.feed

    def record(line):
        seen.append(line)
        feed(line)
        if line == last:
            open(go, 'w').close()

    progress.feed = record
    return seen


def test_run_logged_follows_the_log_while_the_run_goes(tmp_path):
    stream = io.StringIO()
    progress = Progress(total=1, stream=stream, interval=0)
    progress.start(1, 'fake')
    go = str(tmp_path / 'go')
    seen = _handshake(progress, go, TRAIN_LINE)
    lines = [CONFIG_LINE, TRAIN_LINE.replace('[13]', '[1]'), TRAIN_LINE]
    log = str(tmp_path / 'train.log')
    code = run_logged(
        [sys.executable, _writer(tmp_path, lines, go=go)],
        log,
        progress,
        step='train',
        poll=0.1)
    assert code == 0
    assert seen[:len(lines)] == lines
    with open(log) as f:
        assert f.read().splitlines() == lines
    printed = stream.getvalue().splitlines()
    # the last epoch was shown while the run went (the run waited for it)
    assert 'train epoch 13/50 iter 8/8 | loss 0.8123' in printed[-1]
    assert '\r' not in stream.getvalue()
    assert run_logged(
        [sys.executable, _writer(tmp_path, [], code=3)], log, poll=0.1) == 3


def _tool(name):
    path = osp.join(REPO, 'tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'{name}_progress', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_run_protocol_shows_each_step(tmp_path):
    tool = _tool('run_protocol')
    stream = io.StringIO()
    progress = Progress(total=2, stream=stream, interval=0)
    go = str(tmp_path / 'go')
    _handshake(progress, go, TRAIN_LINE)
    log = str(tmp_path / 'seed1' / 'train.log')
    train = _writer(tmp_path, [CONFIG_LINE, TRAIN_LINE], go=go)
    test = _writer(tmp_path, TEST_LINES[1:], code=1, name='fake_test.py')
    job = dict(
        label='coop',
        seed=1,
        work_dir=str(tmp_path / 'seed1'),
        steps=[([train], log, None, None),
               ([test], str(tmp_path / 'seed1' / 'test.log'), 'metrics.json',
                'coop')])
    progress.start(2, 'coop seed 1')
    # the failing step's log
    assert tool.run(job, progress) == str(tmp_path / 'seed1' / 'test.log')
    text = stream.getvalue()
    assert text.startswith('[2/2] coop seed 1: started\n')
    assert '[2/2] coop seed 1 | train epoch 13/50 iter 8/8 | loss 0.8123' \
        in text
    assert '\r' not in text


def test_the_demo_reports_start_and_end_of_each_run(tmp_path):
    demo = _tool('demo')
    stream = io.StringIO()
    progress = Progress(total=3, stream=stream, interval=0)
    go = str(tmp_path / 'go')
    _handshake(progress, go, TRAIN_LINE)
    log = str(tmp_path / 'coop_train.log')
    secs = demo.run([_writer(tmp_path, [CONFIG_LINE, TRAIN_LINE], go=go)], log,
                    progress, 2, 'CoOp, train x.py')
    assert secs > 0
    lines = stream.getvalue().splitlines()
    assert lines[0] == '[2/3] CoOp, train x.py: started'
    assert any('| train epoch 13/50 iter 8/8 | loss 0.8123 |' in line
               for line in lines)
    assert lines[-1] == f'[2/3] CoOp, train x.py: done ({secs:.0f} s), ' \
        f'log {log}'
    with pytest.raises(SystemExit, match='failed, log'):
        demo.run([_writer(tmp_path, ['boom'], code=1, name='fail.py')], log,
                 progress, 3, 'CoOp, test x.py')
    assert stream.getvalue().splitlines()[-1].startswith(
        '[3/3] CoOp, test x.py: FAILED')
