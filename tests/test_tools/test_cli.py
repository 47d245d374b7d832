# Copyright (c) mmprompt contributors. All rights reserved.
"""The command-line boundary (mmprompt.cli) and how the tools fail early.

The checks are tested in-process; a few subprocess runs of tools/train.py,
tools/test.py and the dist scripts cover what only a command shows (exit
status, stderr, the lock between two processes).
"""
import json
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import pytest
from mmengine.config import Config

from mmprompt import cli
from mmprompt.errors import (CheckpointError, ConfigError, PathNotFoundError,
                             WorkDirLockedError)
from mmprompt.offline import make_synthetic_coop_dataset
from mmprompt.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs/coop/coop_tiny_synthetic.py')
IS_ROOT = hasattr(os, 'geteuid') and os.geteuid() == 0


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_coop_dataset(
        root, num_classes=6, images_per_class=(4, 2, 2), seed=3)
    return root


def _roots(data_root):
    return [
        f'{loader}.dataset.data_root={data_root}'
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]


def _tool(args, cwd, timeout=300):
    env = dict(
        os.environ, HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1', PYTHONPATH=REPO)
    return subprocess.run(
        [sys.executable] + args,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout)


def _error_line(proc):
    """The one ``error:`` line of a tool that stopped without a traceback."""
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    lines = [
        line for line in proc.stderr.splitlines() if line.startswith('error: ')
    ]
    assert len(lines) == 1, proc.stderr[-3000:]
    return lines[0]


# ---------------------------------------------------------------------------
# The boundary
# ---------------------------------------------------------------------------
def test_format_error_strips_build_prefixes_and_joins_lines():
    err = ConfigError('class `CoOpHead` in mmprompt/models/heads/coop.py: '
                      'class `CoOpPromptLearner` in mmprompt/models/'
                      'prompt_learners/coop.py: n_ctx must be >= 1,\n  got 0.')
    assert cli.format_error(err) == 'error: n_ctx must be >= 1, got 0.'
    # An outer re-raise of a KeyError quotes the inner message.
    err = KeyError("class `ImageClassifier` in mmpretrain/models/classifiers/"
                   "image.py: 'Foo is not in the mmprompt::model registry.'")
    assert cli.format_error(err) == \
        'error: Foo is not in the mmprompt::model registry.'


def test_run_tool_prints_one_paragraph_and_exits_2(capsys):

    def main(path):
        raise PathNotFoundError(f'checkpoint file {path} does not exist.\n'
                                'Check the path.')

    with pytest.raises(SystemExit) as info:
        cli.run_tool(main, 'x.pth')
    assert info.value.code == cli.EXIT_USER_ERROR == 2
    err = capsys.readouterr().err
    assert err == ('error: checkpoint file x.pth does not exist. Check the '
                   'path.\n')
    # --debug: the error itself, with its traceback.
    with pytest.raises(PathNotFoundError, match='x.pth does not exist'):
        cli.run_tool(main, 'x.pth', debug=True)
    assert capsys.readouterr().err == ''


def test_run_tool_keeps_the_traceback_of_bugs(capsys):

    def main():
        raise ZeroDivisionError('a bug')

    with pytest.raises(ZeroDivisionError, match='a bug'):
        cli.run_tool(main)
    assert capsys.readouterr().err == ''
    assert cli.run_tool(lambda x: x + 1, 1) == 2


def test_explain_unknown_keyword_of_a_config_type():
    cfg = Config(
        dict(
            model=dict(
                head=dict(
                    loss=dict(type='CrossEntropyLoss', loss_weigth=1.0)))))
    with pytest.raises(ConfigError) as info:
        with cli.explain_errors(cfg):
            MODELS.build(cfg.model.head.loss)
    assert isinstance(info.value.__cause__, TypeError)
    assert re.match(
        r"`model\.head\.loss` \(CrossEntropyLoss\) has an argument "
        r"'loss_weigth' that CrossEntropyLoss does not take\. Did you mean "
        r"'loss_weight'\? Fix or remove it in the config \(or "
        r"--cfg-options\)\. CrossEntropyLoss takes: use_sigmoid, ",
        str(info.value)), str(info.value)


def test_explain_prefixed_type_error_without_config():
    # What mmengine versions that prefix re-raised build errors print.
    err = TypeError(
        'class `ImageClassifier` in mmpretrain/models/classifiers/image.py: '
        'class `CoOpPromptLearner` in mmprompt/models/prompt_learners/'
        "coop.py: CoOpPromptLearner.__init__() got an unexpected keyword "
        "argument 'n_cxt'")
    explained = cli.explain(err)
    assert isinstance(explained, ConfigError)
    assert str(explained).startswith(
        "CoOpPromptLearner has an argument 'n_cxt' that CoOpPromptLearner "
        "does not take. Did you mean 'n_ctx'?")


def test_explain_leaves_type_errors_of_code_alone():
    # The config has no such key: a bug in code, which keeps its traceback.
    cfg = Config(dict(model=dict(type='CrossEntropyLoss')))
    err = TypeError("CrossEntropyLoss.__init__() got an unexpected keyword "
                    "argument 'weigth'")
    assert cli.explain(err, cfg) is None
    assert cli.explain(TypeError('unsupported operand type(s)')) is None
    assert cli.explain(KeyError('head.fc.weight')) is None
    with pytest.raises(TypeError, match='weigth'):
        with cli.explain_errors(cfg):
            raise err

    # Even with mmengine's build prefix, which alone would pass for a
    # config mistake, the boundary keeps what the config clears.
    def main():
        with cli.explain_errors(cfg):
            raise TypeError('class `CrossEntropyLoss` in mmpretrain/models/'
                            'losses/cross_entropy_loss.py: ' + str(err))

    with pytest.raises(TypeError, match='weigth'):
        cli.run_tool(main)


def test_explain_missing_required_argument():
    cfg = Config(dict(model=dict(type='OpenCLIPTextEncoder')))
    err = TypeError("OpenCLIPTextEncoder.__init__() missing 1 required "
                    "positional argument: 'model_name'")
    explained = cli.explain(err, cfg)
    assert str(explained) == (
        "`model` (OpenCLIPTextEncoder) lacks the required argument "
        "'model_name' of OpenCLIPTextEncoder: set it in the config (or with "
        '--cfg-options).')


def test_explain_unknown_registry_type():
    cfg = Config(
        dict(model=dict(head=dict(loss=dict(type='CrossEntropyLos')))))
    with pytest.raises(ConfigError) as info:
        with cli.explain_errors(cfg):
            MODELS.build(cfg.model.head.loss)
    message = cli.format_error(info.value)
    assert message.startswith(
        "error: unknown type 'CrossEntropyLos' (set in "
        '`model.head.loss.type`): no class of that name is registered in the '
        "mmprompt::model registry or its parents. Did you mean "
        "'CrossEntropyLoss'")
    assert 'readthedocs' not in message
    assert message.endswith('list its module in `custom_imports`.')


def test_unknown_types_get_the_closest_registered_names():
    from mmengine.registry import Registry

    from mmprompt.registry import DATASETS

    def explained(registry, cfg):
        with pytest.raises(ConfigError) as info:
            with cli.explain_errors():
                registry.build(cfg)
        return str(info.value)

    # mmprompt's child registry and mmengine's root one, as the runner
    # builds through it, name the same closest types of the whole tree.
    from mmengine.registry import MODELS as ROOT_MODELS
    message = explained(DATASETS, dict(type='CoOpEuroSat', data_root='x'))
    assert message.startswith("unknown type 'CoOpEuroSat': no class of that "
                              'name is registered in the mmprompt::dataset '
                              "registry or its parents. Did you mean "
                              "'CoOpEuroSAT'?")
    assert "Did you mean 'PromptClsHead'" in explained(
        ROOT_MODELS, dict(type='PromptClsHaed'))
    assert 'Did you mean' not in explained(MODELS, dict(type='Zzzzqqqq'))
    # mmengine's own error is left as it is (no process-wide patch).
    with pytest.raises(KeyError) as info:
        MODELS.build(dict(type='PromptClsHaed'))
    assert 'Did you mean' not in str(info.value)
    # A KeyError raised inside a constructor is no unknown type.
    toys = Registry('toy')

    @toys.register_module()
    class Boom:

        def __init__(self):
            raise KeyError('Boom is not in the constructor')

    with pytest.raises(KeyError, match='Boom is not in the constructor'):
        with cli.explain_errors():
            toys.build(dict(type='Boom'))


def test_explain_an_empty_param_scheduler():
    import torch
    from mmengine.optim.scheduler import CosineAnnealingLR
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.)
    # train_cfg.max_epochs=1: the cosine of the configs runs from epoch 1.
    with pytest.raises(ValueError) as info:
        CosineAnnealingLR(optimizer, T_max=1, begin=1, end=1)
    err = cli.explain(info.value)
    assert isinstance(err, ConfigError)
    message = str(err)
    assert message.startswith(
        'a `param_scheduler` entry is empty with these epochs: it would run '
        'from begin=1 to end=1 ')
    assert '--cfg-options train_cfg.max_epochs=2 (or more)' in message
    assert 'change the `begin`/`end` of the schedulers' in message
    # Behind the boundary: one line, exit status 2.
    with pytest.raises(ConfigError, match='is empty with these epochs'):
        with cli.explain_errors(Config(dict(param_scheduler=[]))):
            raise info.value


def test_explain_a_bad_batch_size():
    import torch
    with pytest.raises(ValueError) as info:
        torch.utils.data.DataLoader(list(range(4)), batch_size=-1)
    err = cli.explain(info.value)
    assert isinstance(err, ConfigError)
    assert str(err) == (
        'batch_size must be an int >= 1, but a dataloader got '
        'batch_size=-1. Fix it in the config or with --cfg-options, e.g. '
        'train_dataloader.batch_size=32 (or val_/test_dataloader.'
        'batch_size).')


def test_explain_leaves_other_value_errors_alone():
    assert cli.explain(ValueError('end should be larger')) is None
    assert cli.explain(ValueError('something else')) is None


# ---------------------------------------------------------------------------
# The config and --cfg-options
# ---------------------------------------------------------------------------
def test_load_config_reports_missing_and_broken_files(tmp_path):
    missing = str(tmp_path / 'nope.py')
    with pytest.raises(
            PathNotFoundError,
            match=f'config file {re.escape(missing)} does not '
            'exist'):
        cli.load_config(missing)
    base = tmp_path / 'base.py'
    base.write_text('model = dict(\n    type="X",\n')
    child = tmp_path / 'child.py'
    child.write_text("_base_ = ['./base.py']\n")
    with pytest.raises(
            ConfigError,
            match=f'config file {re.escape(str(base))} has a '
            'syntax error on line 1: .*Fix the file'):
        cli.load_config(str(child))
    child.write_text("_base_ = ['./gone.py']\n")
    with pytest.raises(
            PathNotFoundError,
            match=r'gone\.py, a _base_ of .*child\.py, does not '
            'exist'):
        cli.load_config(str(child))
    assert cli.load_config(CONFIG).model.type == 'ImageClassifier'


def test_load_config_reports_a_folder_and_a_wrong_suffix(tmp_path):
    with pytest.raises(
            PathNotFoundError,
            match=f'config {re.escape(str(tmp_path))} is a folder, not a '
            'config file'):
        cli.load_config(str(tmp_path))
    text = tmp_path / 'c.txt'
    text.write_text('a = 1\n')
    with pytest.raises(ConfigError) as info:
        cli.load_config(str(text))
    assert str(info.value) == (
        f'config file {text} has an unsupported suffix: config files must '
        'be .py, .yml, .yaml or .json.')
    child = tmp_path / 'child.py'
    child.write_text("_base_ = ['./c.txt']\n")
    with pytest.raises(
            ConfigError,
            match=r'c\.txt, a _base_ of .*child\.py, has an unsupported '
            'suffix'):
        cli.load_config(str(child))
    (tmp_path / 'sub').mkdir()
    child.write_text("_base_ = ['./sub']\n")
    with pytest.raises(
            PathNotFoundError,
            match=r'sub, a _base_ of .*child\.py, is a folder, not a '
            'config file'):
        cli.load_config(str(child))
    good = tmp_path / 'c.json'
    good.write_text('{"a": 1}')
    assert cli.load_config(str(good)).a == 1


def test_parse_cfg_options():
    assert cli.parse_cfg_options(['a.b=1', 'c=[x,y]', 'd=None', 'e=p=q']) == {
        'a.b': 1,
        'c': ['x', 'y'],
        'd': None,
        'e': 'p=q'
    }
    assert cli.parse_cfg_options(None) == {}
    with pytest.raises(ConfigError, match="KEY=VALUE pairs, got 'a.b'"):
        cli.parse_cfg_options(['a.b'])


def test_parse_cfg_options_keeps_spaces_in_text():
    # mmengine's DictAction gives 'aphotoofa'.
    key = 'model.head.prompt_learner.ctx_init'
    assert cli.parse_cfg_options([f'{key}=a photo of a']) == {
        key: 'a photo of a'
    }
    assert cli.parse_cfg_options(['k="a photo"', 'n= 5 ', 'f=1e-3']) == {
        'k': 'a photo',
        'n': 5,
        'f': 0.001
    }
    # Lists: spaces around items and brackets go, those inside items stay.
    assert cli.parse_cfg_options([
        'l=[a photo, b ]', 't=( 1, 2 )', 'n=[(1, 2), [a, b], c]', 'c=1, 2',
        'e=[ ]', 'b=[true, None, 0.5]'
    ]) == {
        'l': ['a photo', 'b'],
        't': (1, 2),
        'n': [(1, 2), ['a', 'b'], 'c'],
        'c': [1, 2],
        'e': [],
        'b': [True, None, 0.5]
    }
    with pytest.raises(
            ConfigError,
            match=r"--cfg-options l=\[a,\(b\]: the brackets in 'a,\(b' do "
            'not match'):
        cli.parse_cfg_options(['l=[a,(b]'])


@pytest.fixture
def small_cfg():
    return Config(
        dict(
            train_cfg=dict(by_epoch=True, max_epochs=3, val_interval=1),
            train_dataloader=dict(batch_size=2, dataset=dict(type='X')),
            model=dict(type='CrossEntropyLoss', loss_weight=1.0),
            param_scheduler=[dict(type='CosineAnnealingLR', T_max=1)],
            default_hooks=dict(checkpoint=dict(type='CheckpointHook')),
            custom=dict(type='NotRegisteredAnywhere', a=1),
            randomness=dict(seed=1)))


@pytest.mark.parametrize(
    'key',
    [
        'train_cfg.max_epochs',
        'train_cfg.val_begin',  # an EpochBasedTrainLoop argument
        'train_dataloader.pin_memory',  # a DataLoader argument
        'model.class_weight',  # a CrossEntropyLoss argument
        'param_scheduler.0.end',  # takes **kwargs
        'default_hooks.checkpoint.max_keep_ckpts',
        'custom.b',  # a type no registry knows: cannot tell, allowed
        'randomness.deterministic',
        'load_from',  # a Runner argument
        'model._delete_',
    ])
def test_check_cfg_options_accepts(small_cfg, key):
    cli.check_cfg_options(small_cfg, {key: 1})


@pytest.mark.parametrize('key, message', [
    ('train_cfg.max_epoch',
     r'--cfg-options train_cfg\.max_epoch: `train_cfg` has no field '
     r'`max_epoch`, so the option would be silently ignored\. Did you mean '
     r"'max_epochs'\? `train_cfg` has: by_epoch, max_epochs, val_interval\."),
    ('model.loss_weigth',
     r'`model` has no field `loss_weigth` nor is it an argument of '
     r"CrossEntropyLoss, .*Did you mean 'loss_weight'\? CrossEntropyLoss "
     'takes: use_sigmoid'),
    ('default_hooks.chekpoint.interval',
     r"`default_hooks` has no field `chekpoint`.*Did you mean 'checkpoint'"),
    ('param_scheduler.3.T_max',
     r'`param_scheduler` is a list of 1 entries, so its indices are 0 to 0'),
    ('param_scheduler.last.T_max',
     r'`param_scheduler` is a list; index it with a number'),
    ('train_cfg.max_epochs.x',
     r'`train_cfg\.max_epochs` is int 3, not a dict, so it has no field `x`'),
    ('max_epoch',
     r'the config has no field `max_epoch` nor is it an argument of the '
     r'Runner, so the option would be silently ignored\.$'),
])
def test_check_cfg_options_rejects(small_cfg, key, message):
    with pytest.raises(ConfigError, match=message):
        cli.check_cfg_options(small_cfg, {key: 1})


@pytest.mark.parametrize('key, value, message', [
    ('train_cfg.max_epochs', 'abc',
     r"^--cfg-options train_cfg\.max_epochs=abc: `train_cfg\.max_epochs` is "
     r"an int \(3\) in the config, but the option gives the text 'abc'; "
     r'give a number, e.g\. train_cfg\.max_epochs=3\.$'),
    ('model.loss_weight', 'heavy',
     r'`model\.loss_weight` is a float \(1\.0\) in the config, but the '
     r"option gives the text 'heavy'; give a number"),
    ('param_scheduler.0.T_max', 'x y',
     r"`param_scheduler\.0\.T_max` is an int \(1\).*text 'x y'"),
])
def test_check_cfg_options_rejects_text_for_a_number(small_cfg, key, value,
                                                     message):
    with pytest.raises(ConfigError, match=message):
        cli.check_cfg_options(small_cfg, {key: value})


def test_check_cfg_options_accepts_numbers_and_other_texts(small_cfg):
    cli.check_cfg_options(
        small_cfg,
        {
            'train_cfg.max_epochs': 5,
            'model.loss_weight': 2,  # an int for a float
            'train_cfg.by_epoch': 'yes',  # a bool: not a number
            'load_from': 'x.pth',  # new key
        })


def test_check_cfg_options_on_a_real_config():
    cfg = cli.load_config(CONFIG)
    # Constructor arguments the config leaves at their defaults.
    cli.check_cfg_options(
        cfg, {
            'model.backbone.pretrained': 'x.pt',
            'param_scheduler.1.end': 4,
            'model.head.prompt_learner.n_ctx': 8,
            'train_dataloader.dataset.seed': 2,
        })
    with pytest.raises(
            ConfigError,
            match=r'`model\.head\.prompt_learner` has no field '
            r'`n_cxt` nor is it an argument of CoOpPromptLearner'
            r".*Did you mean 'n_ctx'\?"):
        cli.check_cfg_options(cfg, {'model.head.prompt_learner.n_cxt': 8})
    with pytest.raises(
            ConfigError,
            match=r"`optim_wrapper\.optimizer\.lr` is a float \(0\.002\) in "
            r"the config, but the option gives the text 'fast'; give a "
            'number'):
        cli.check_cfg_options(
            cfg, cli.parse_cfg_options(['optim_wrapper.optimizer.lr=fast']))


def test_merge_cfg_options_turns_default_hooks_off():
    from mmengine.runner import Runner
    cfg = cli.load_config(CONFIG)
    assert cfg.default_hooks.epoch_seed.type == 'EpochSeedHook'
    # load_config names the config in the checkpoint check's records.
    assert cfg.default_hooks.checkpoint_check == dict(
        type='CheckpointCheckHook', config=osp.basename(CONFIG))
    # mmengine's Runner pops a None entry of its own six default hooks only;
    # for any other it stops on a bare `assert hook is not None`.
    runner = Runner.__new__(Runner)
    registered = []
    runner.register_hook = registered.append
    with pytest.raises(AssertionError):
        runner.register_default_hooks(dict(epoch_seed=None))
    cli.merge_cfg_options(cfg, [
        'default_hooks.epoch_seed=None', 'default_hooks.timer=None',
        'default_hooks.class_names.type=SetClassNamesHook',
        'train_cfg.max_epochs=3'
    ])
    assert 'epoch_seed' not in cfg.default_hooks
    assert cfg.default_hooks.timer is None  # left to the Runner
    assert cfg.default_hooks.class_names.type == 'SetClassNamesHook'
    assert cfg.train_cfg.max_epochs == 3
    runner.register_default_hooks(cfg.default_hooks)
    names = [hook['type'] for hook in registered]
    assert 'SetClassNamesHook' in names and 'CheckpointHook' in names
    assert 'EpochSeedHook' not in names and 'IterTimerHook' not in names
    with pytest.raises(ConfigError, match='no field `epoch_sed`'):
        cli.merge_cfg_options(cfg, ['default_hooks.epoch_sed=None'])
    assert cli.merge_cfg_options(cfg, None) is cfg


# ---------------------------------------------------------------------------
# Files and folders
# ---------------------------------------------------------------------------
def test_check_checkpoint(tmp_path):
    missing = str(tmp_path / 'epoch_9.pth')
    with pytest.raises(
            PathNotFoundError,
            match=f'checkpoint file {re.escape(missing)} \\(from '
            '--resume\\) does not exist'):
        cli.check_checkpoint(missing, '--resume')
    with pytest.raises(PathNotFoundError, match='is a folder, not a file'):
        cli.check_checkpoint(str(tmp_path), 'the checkpoint argument')
    (tmp_path / 'ok.pth').write_bytes(b'')
    cli.check_checkpoint(str(tmp_path / 'ok.pth'), '--resume')
    cli.check_checkpoint('https://example.com/x.pth', '`load_from`')
    cli.check_checkpoint(None, '`load_from`')


def test_check_out_file(tmp_path):
    with pytest.raises(
            PathNotFoundError,
            match=r'the folder of --out .*no/such/r\.pkl \(.*no/'
            r'such\) does not exist\. Create it first'):
        cli.check_out_file(str(tmp_path / 'no/such/r.pkl'))
    with pytest.raises(ConfigError, match='is a folder; give a file name'):
        cli.check_out_file(str(tmp_path))
    cli.check_out_file(str(tmp_path / 'r.pkl'))
    cli.check_out_file(None)
    if not IS_ROOT:
        locked = tmp_path / 'ro'
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(
                    ConfigError,
                    match='cannot be written: no write '
                    'permission in'):
                cli.check_out_file(str(locked / 'r.pkl'))
        finally:
            locked.chmod(0o700)


def test_check_work_dir(tmp_path):
    cli.check_work_dir(str(tmp_path / 'new/deeper'))  # created later
    assert not (tmp_path / 'new').exists()
    (tmp_path / 'file').write_text('')
    with pytest.raises(ConfigError, match='is a file, not a folder'):
        cli.check_work_dir(str(tmp_path / 'file'))
    if not IS_ROOT:
        locked = tmp_path / 'ro'
        locked.mkdir()
        locked.chmod(0o500)
        try:
            with pytest.raises(
                    ConfigError,
                    match=r'work dir .*ro/run is not writable '
                    r'\(it would be created in .*ro\)'):
                cli.check_work_dir(str(locked / 'run'))
        finally:
            locked.chmod(0o700)


def test_check_data_roots(tmp_path, monkeypatch):
    missing = str(tmp_path / 'data')
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='RepeatDataset',
                    times=2,
                    dataset=dict(type='CoOpSynthetic', data_root=missing))),
            val_dataloader=None))
    with pytest.raises(PathNotFoundError) as info:
        cli.check_data_roots(cfg, ['train_dataloader', 'val_dataloader'])
    assert str(info.value) == (
        f'data root {missing} of `train_dataloader.dataset.dataset` '
        '(CoOpSynthetic) does not exist. Put the dataset there, or point the '
        'config at it: --cfg-options '
        'train_dataloader.dataset.dataset.data_root=/path/to/data')
    cli.check_data_roots(cfg, ['test_dataloader'])  # not used: not checked
    open(missing, 'w').close()
    with pytest.raises(
            PathNotFoundError,
            match=f'^data root {re.escape(missing)} of '
            r'`train_dataloader\.dataset\.dataset` \(CoOpSynthetic\) is a '
            'file, not a folder. Put the dataset there'):
        cli.check_data_roots(cfg, ['train_dataloader'])
    os.remove(missing)
    os.makedirs(missing)
    cli.check_data_roots(cfg, ['train_dataloader'])

    # A dataset that writes its data on first use creates the root itself.
    from mmprompt.datasets.procedural import CoOpProceduralDTD
    cfg = Config(
        dict(
            test_dataloader=dict(
                dataset=dict(type='CoOpProceduralDTD',
                             data_root='not/there'))))
    monkeypatch.setattr(
        CoOpProceduralDTD, 'WRITES_ON_FIRST_USE', False, raising=False)
    with pytest.raises(
            PathNotFoundError, match=r'data root not/there .*\(relative to '):
        cli.check_data_roots(cfg, ['test_dataloader'])
    monkeypatch.setattr(
        CoOpProceduralDTD, 'WRITES_ON_FIRST_USE', True, raising=False)
    cli.check_data_roots(cfg, ['test_dataloader'])


def test_check_resumable(tmp_path):
    work = str(tmp_path)
    with pytest.raises(
            CheckpointError,
            match=f'--resume: there is nothing to resume in work '
            f'dir {re.escape(work)} .*Drop --resume to start a '
            'fresh training, or pass the checkpoint to resume '
            'from: --resume PATH'):
        cli.check_resumable(work)
    ckpt = tmp_path / 'epoch_2.pth'
    (tmp_path / 'last_checkpoint').write_text(str(ckpt))
    with pytest.raises(
            CheckpointError,
            match=r"names the checkpoint '.*epoch_2\.pth', which "
            'does not exist'):
        cli.check_resumable(work)
    ckpt.write_bytes(b'')
    assert cli.check_resumable(work) == str(ckpt)


# ---------------------------------------------------------------------------
# The work-dir lock
# ---------------------------------------------------------------------------
def test_work_dir_lock_excludes_a_second_run(tmp_path):
    work = str(tmp_path / 'run')
    first = cli.WorkDirLock(work, command='python tools/train.py a.py')
    with first:
        assert first.locked
        info = json.loads(open(osp.join(work, '.mmprompt.lock')).read())
        assert info['pid'] == os.getpid()
        # flock conflicts between open files, also within one process.
        with pytest.raises(WorkDirLockedError) as err:
            cli.WorkDirLock(work).acquire()
        message = str(err.value)
        assert message.startswith(
            f'work dir {work} is in use by another run (pid {os.getpid()} '
            f'on {socket.gethostname()}, started ')
        assert ': python tools/train.py a.py. ' in message
        assert 'pass another --work-dir, or wait for that run to finish' in \
            message
        assert isinstance(err.value, RuntimeError)
    assert not first.locked
    # Released: the file stays, and the next run takes it.
    assert osp.exists(osp.join(work, '.mmprompt.lock'))
    with cli.WorkDirLock(work) as again:
        assert again.locked


def test_stale_lock_file_does_not_block(tmp_path):
    # What a killed run leaves: the file, but no lock (the OS released it).
    (tmp_path / '.mmprompt.lock').write_text(
        json.dumps({
            'pid': 999999,
            'command': 'killed'
        }))
    with cli.WorkDirLock(str(tmp_path)) as lock:
        assert lock.locked
        assert lock.holder()['pid'] == os.getpid()


def test_work_dir_lock_reports_a_work_dir_it_cannot_create(tmp_path):
    (tmp_path / 'file').write_text('')
    work = str(tmp_path / 'file' / 'run')  # under a file, even for root
    with pytest.raises(ConfigError) as info:
        cli.WorkDirLock(work).acquire()
    assert str(info.value) == (
        f'cannot create work dir {work} (Not a directory); pass a '
        '--work-dir you can write to.')
    if osp.isdir('/proc/self'):
        with pytest.raises(
                ConfigError,
                match=r'^cannot create work dir /proc/x \(.+\); pass a '
                '--work-dir you can write to'):
            cli.WorkDirLock('/proc/x').acquire()


@pytest.mark.parametrize('launcher, needed', [
    ('pytorch', ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')),
    ('slurm', ('SLURM_PROCID', )),
    ('mpi', ('OMPI_COMM_WORLD_RANK', )),
])
def test_check_launcher(monkeypatch, launcher, needed):
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT',
                 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK'):
        monkeypatch.delenv(name, raising=False)
    cli.check_launcher('none')
    cli.check_launcher(None)
    with pytest.raises(
            ConfigError,
            match=f'^--launcher {launcher} needs .* '
            fr'\({", ".join(needed)}\); start it with .*, or drop '
            r'--launcher to run in one process\.$'):
        cli.check_launcher(launcher)
    for name in needed:
        monkeypatch.setenv(name, '0')
    cli.check_launcher(launcher)
    if len(needed) > 1:
        monkeypatch.delenv(needed[-1])
        with pytest.raises(ConfigError, match=f'; missing: {needed[-1]}\\)'):
            cli.check_launcher(launcher)


def test_check_launcher_says_how_to_start_torchrun(monkeypatch):
    for name in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError) as info:
        cli.check_launcher('pytorch')
    assert str(info.value) == (
        '--launcher pytorch needs the environment torchrun sets (RANK, '
        'WORLD_SIZE, MASTER_ADDR, MASTER_PORT); start it with `bash '
        'tools/dist_train.sh CONFIG N` or `torchrun --nproc_per_node N '
        'tools/train.py CONFIG --launcher pytorch`, or drop --launcher to '
        'run in one process.')
    with pytest.raises(
            ConfigError,
            match=r'`bash tools/dist_test\.sh CONFIG CHECKPOINT N` or '
            r'`torchrun --nproc_per_node N tools/test\.py CONFIG CHECKPOINT '
            '--launcher pytorch`'):
        cli.check_launcher('pytorch', 'test')


def test_only_rank_0_takes_the_lock(tmp_path, monkeypatch):
    monkeypatch.setenv('RANK', '1')
    assert cli.launcher_rank('pytorch') == 1
    assert cli.launcher_rank('none') == 0
    with cli.lock_work_dir(str(tmp_path / 'a'), 'pytorch') as lock:
        assert lock is None
    assert not (tmp_path / 'a').exists()
    monkeypatch.setenv('RANK', '0')
    with cli.lock_work_dir(str(tmp_path / 'a'), 'pytorch') as lock:
        assert lock.locked


# ---------------------------------------------------------------------------
# The tools, end to end
# ---------------------------------------------------------------------------
def test_help_does_not_import_torch():
    code = ('import runpy, sys\n'
            'for tool in ("tools/train.py", "tools/test.py"):\n'
            '    sys.argv = [tool, "--help"]\n'
            '    try:\n'
            '        runpy.run_path(tool, run_name="__main__")\n'
            '    except SystemExit as e:\n'
            '        assert e.code == 0, e.code\n'
            'heavy = [m for m in ("torch", "mmengine", "mmprompt")\n'
            '         if m in sys.modules]\n'
            'assert not heavy, heavy\n')
    proc = _tool(['-c', code], REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert '--debug' in proc.stdout and '--cfg-options KEY=VALUE' in \
        proc.stdout


def test_train_fails_at_once_on_a_locked_work_dir(data_root, tmp_path):
    work = str(tmp_path / 'run')
    with cli.WorkDirLock(work, command='python tools/train.py first.py'):
        proc = _tool(
            ['tools/train.py', CONFIG, '--work-dir', work, '--cfg-options'] +
            _roots(data_root), REPO)
    line = _error_line(proc)
    assert line.startswith(f'error: work dir {work} is in use by another run '
                           f'(pid {os.getpid()} ')
    assert ': python tools/train.py first.py. ' in line
    # Stopped before the model is built.
    assert 'open_clip model' not in proc.stdout + proc.stderr


def test_train_resume_with_nothing_to_resume(data_root, tmp_path):
    work = str(tmp_path / 'fresh')
    proc = _tool([
        'tools/train.py', CONFIG, '--work-dir', work, '--resume',
        '--cfg-options'
    ] + _roots(data_root), REPO)
    assert _error_line(proc) == (
        f'error: --resume: there is nothing to resume in work dir {work} (it '
        'has no last_checkpoint file: no training saved a checkpoint there). '
        'Drop --resume to start a fresh training, or pass the checkpoint to '
        'resume from: --resume PATH.')
    # The lock was released on the way out.
    with cli.WorkDirLock(work) as lock:
        assert lock.locked


def test_train_explains_an_unknown_keyword_in_the_config(data_root, tmp_path):
    config = tmp_path / 'typo.py'
    config.write_text(f'_base_ = [{CONFIG!r}]\n'
                      'model = dict(head=dict(prompt_learner=dict('
                      'n_cxt=4)))\n')
    proc = _tool([
        'tools/train.py',
        str(config), '--work-dir',
        str(tmp_path / 'w'), '--cfg-options'
    ] + _roots(data_root), REPO)
    assert _error_line(proc).startswith(
        'error: `model.head.prompt_learner` (CoOpPromptLearner) has an '
        "argument 'n_cxt' that CoOpPromptLearner does not take. Did you mean "
        "'n_ctx'?")


def test_test_tool_checks_the_checkpoint_and_out_first(data_root, tmp_path):
    missing = str(tmp_path / 'epoch_4.pth')
    proc = _tool([
        'tools/test.py', CONFIG, missing, '--work-dir',
        str(tmp_path / 'w'), '--cfg-options'
    ] + _roots(data_root), REPO)
    assert _error_line(proc) == (
        f'error: checkpoint file {missing} (from the checkpoint argument) '
        'does not exist. Check the path; a training writes epoch_N.pth files '
        'into its work dir.')
    # --debug: the same error with its traceback.
    out = str(tmp_path / 'no_dir/preds.pkl')
    proc = _tool([
        'tools/test.py', CONFIG, '--out', out, '--debug', '--work-dir',
        str(tmp_path / 'w'), '--cfg-options'
    ] + _roots(data_root), REPO)
    assert proc.returncode == 1
    assert 'Traceback' in proc.stderr
    assert re.search(
        r'mmprompt\.errors\.PathNotFoundError: the folder of '
        r'--out .*no_dir/preds\.pkl .* does not exist', proc.stderr)


def test_dist_scripts_say_how_to_call_them(tmp_path):
    for script, usage in (('tools/dist_train.sh', 'CONFIG GPUS'),
                          ('tools/dist_test.sh', 'CONFIG CHECKPOINT GPUS')):
        proc = subprocess.run(['bash', script, CONFIG],
                              cwd=REPO,
                              capture_output=True,
                              text=True,
                              timeout=60)
        assert proc.returncode == 2
        assert f'usage: bash {script} {usage}' in proc.stderr
        assert 'error: GPUS, the number of processes per node' in proc.stderr
        assert 'is missing' in proc.stderr
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', CONFIG, '--work-dir', 'x'],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60)
    assert proc.returncode == 2
    assert "is '--work-dir', not a positive number" in proc.stderr


def test_dist_scripts_refuse_a_busy_port(tmp_path):
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = dict(os.environ, PORT=str(port), PYTHON=sys.executable)
        for script, args in (('tools/dist_train.sh', [CONFIG, '2']),
                             ('tools/dist_test.sh', [CONFIG, 'x.pth', '2'])):
            proc = subprocess.run(
                ['bash', script] + args,
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                timeout=60)
            assert proc.returncode == 2, proc.stderr
            assert proc.stderr.startswith(
                f'error: port {port} is already in use')
            assert f'PORT={port + 1} bash {script}' in proc.stderr
            assert 'torch' not in proc.stdout  # torchrun never started
