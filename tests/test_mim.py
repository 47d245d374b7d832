# Copyright (c) mmprompt contributors. All rights reserved.
"""mmprompt through openmim, installed as a user installs it: ``pip install``
(of its sdist, which is stricter than ``pip install .`` in the checkout: the
sdist must carry all the build needs) into a fresh virtual environment,
then ``mim train / test / search mmprompt`` from a folder outside the
checkout.

The fresh venv gets mmprompt alone (a regular, not editable, install of a
copy of this checkout); its heavy dependencies (torch, mmengine, mmpretrain,
open_clip, openmim) are this environment's, reached through a ``.pth`` line,
so the test does not install 7 GB of wheels again. mmprompt itself, its
configs, tools and model index come only from the new install: the checkout
is neither on ``sys.path`` nor the working directory.
"""
import os
import os.path as osp
import re
import shutil
import site
import subprocess
import sys

import pytest
import yaml

from mmprompt.offline import make_procedural_dataset

# A package build and two tool runs: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = 'coop_tinyclip_procdtd.py'


def _run(cmd, cwd, timeout=600):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ('PYTHONPATH', 'PYTHONHOME', 'VIRTUAL_ENV')
    }
    env.update(HF_HUB_OFFLINE='1', OMP_NUM_THREADS='1', PYTHONNOUSERSITE='1')
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (f'{cmd} failed:\n' + proc.stdout[-4000:] +
                                  proc.stderr[-4000:])
    return proc.stdout + proc.stderr


def _checkout_files():
    """The files of this checkout that a clone would have (tracked ones and
    new ones not ignored), relative to the repository root."""
    out = subprocess.run(
        ['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True).stdout
    return [p for p in out.splitlines() if osp.isfile(osp.join(REPO, p))]


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    """A fresh venv with ``pip install`` of a copy of the checkout."""
    root = tmp_path_factory.mktemp('mim')
    src = root / 'src'
    for rel in _checkout_files():
        dest = src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(osp.join(REPO, rel), dest)
    venv = root / 'venv'
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip',
                    str(venv)],
                   check=True)
    python = str(venv / 'bin' / 'python')
    purelib = _run([
        python, '-c', 'import sysconfig; print(sysconfig.get_path("purelib"))'
    ], str(root)).strip()
    # This environment's packages after the venv's own: mmprompt is found in
    # the venv first (an editable mmprompt here is a finder in a .pth file,
    # which a plain path line does not run).
    with open(osp.join(purelib, '_mmprompt_test_deps.pth'), 'w') as f:
        f.write('\n'.join(site.getsitepackages()) + '\n')
    # Through the sdist, which must carry everything the build needs
    # (MANIFEST.in): requirements, README, configs, tools, model index.
    _run([sys.executable, 'setup.py', '-q', 'sdist', '-d',
          str(root / 'dist')], str(src))
    (sdist, ) = (root / 'dist').iterdir()
    _run([
        sys.executable, '-m', 'pip', '--python', python, 'install', '-q',
        '--no-deps', '--no-build-isolation',
        str(sdist)
    ], str(root))
    data = str(root / 'procdtd')
    make_procedural_dataset(data, num_train=16, num_val=1, num_test=2, seed=5)
    run = root / 'run'
    run.mkdir()
    return dict(
        python=python, purelib=purelib, data=data, run=str(run), root=root)


def _mim(env, *args):
    return _run([env['python'], '-m', 'mim', *args], env['run'])


def _options(data_root):
    opts = {
        f'{s}_dataloader.dataset.data_root': data_root
        for s in ('train', 'val', 'test')
    }
    opts.update({
        'train_cfg.max_epochs': 2,
        'train_cfg.val_interval': 2,
        'default_hooks.checkpoint.interval': 2,
        'default_hooks.logger.interval': 1,
    })
    return ['--cfg-options'] + [f'{k}={v}' for k, v in opts.items()]


def test_pip_install_packages_configs_tools_and_model_index(installed):
    mim_dir = osp.join(installed['purelib'], 'mmprompt', '.mim')
    for rel in ('configs/coop/' + CONFIG, 'configs/_base_/default_runtime.py',
                'tools/train.py', 'tools/test.py', 'model-index.yml'):
        assert osp.isfile(osp.join(mim_dir, rel)), rel
    # Every metafile the index imports came along.
    with open(osp.join(mim_dir, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    assert imports and all(osp.isfile(osp.join(mim_dir, p)) for p in imports)
    # The run uses the installed mmprompt, not the checkout.
    where = _run([
        installed['python'], '-c', 'import mmprompt; print(mmprompt.__file__)'
    ], installed['run']).strip().splitlines()[-1]
    assert where == osp.join(installed['purelib'], 'mmprompt', '__init__.py')


def test_mim_train_then_test_a_packaged_config(installed):
    work = osp.join(installed['run'], 'work')
    out = _mim(installed, 'train', 'mmprompt', CONFIG, '--work-dir', work,
               *_options(installed['data']))
    found = osp.join(installed['purelib'], 'mmprompt', '.mim', 'configs',
                     'coop', CONFIG)
    assert f'will use {found} instead' in out
    assert f"{osp.join(installed['purelib'], 'mmprompt', '.mim', 'tools')}"\
        '/train.py' in out
    ckpt = osp.join(work, 'epoch_2.pth')
    assert osp.isfile(ckpt)
    result = osp.join(installed['run'], 'metrics.json')
    out = _mim(installed, 'test', 'mmprompt', CONFIG, '--checkpoint', ckpt,
               '--work-dir', work, '--out', result, '--out-item', 'metrics',
               *_options(installed['data']))
    with open(result) as f:
        metrics = yaml.safe_load(f)
    assert set(metrics) == {'base/top1', 'new/top1', 'hm'}
    assert re.search(r'base/top1: [0-9.]+', out)


def test_mim_search_lists_the_model_index(installed):
    with open(osp.join(REPO, 'model-index.yml')) as f:
        imports = yaml.safe_load(f)['Import']
    names, configs = [], []
    for rel in imports:
        with open(osp.join(REPO, rel)) as f:
            for model in yaml.safe_load(f).get('Models', []):
                names.append(model['Name'])
                configs.append(model['Config'])
    assert names
    out = _mim(installed, 'search', 'mmprompt', '--valid-config')
    for name in names:
        assert name in out, f'{name} not in `mim search` output:\n{out}'
    out = _mim(installed, 'search', 'mmprompt', '--config', names[0],
               '--field', 'config')
    assert configs[0] in out


def test_mim_train_launches_two_processes(installed):
    """``--launcher pytorch --gpus N`` starts N ranks (gloo on CPU)."""
    work = osp.join(installed['run'], 'work_ddp')
    out = _mim(installed, 'train', 'mmprompt', CONFIG, '--launcher', 'pytorch',
               '--gpus', '2', '--work-dir', work, *_options(installed['data']))
    assert 'Distributed training: True' in out
    # 15 classes x 16 shots, batch 32: 8 iterations per epoch on one
    # process, 4 on each of two.
    assert re.search(r'Epoch\(train\) \[2\]\[4/4\]', out), out[-3000:]
    assert osp.isfile(osp.join(work, 'epoch_2.pth'))
