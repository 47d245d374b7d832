# Copyright (c) mmprompt contributors. All rights reserved.
"""tools/analysis_tools/tsne_text_features.py on the tiny offline world."""
import importlib.util
import os.path as osp
import re
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image
# A sibling test module (pytest puts this folder on sys.path).
from test_train_test import REPO, _run

from mmprompt.offline import make_synthetic_coop_dataset
from mmprompt.registry import MODELS

TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'tsne_text_features.py')
CONFIG = osp.join(REPO, 'configs/coop/coop_tiny_synthetic.py')
SEED = Config.fromfile(CONFIG).randomness.seed  # 1

_spec = importlib.util.spec_from_file_location('tsne_text_features', TOOL)
tsne_tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tsne_tool)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_coop_dataset(
        root, num_classes=6, images_per_class=(2, 1, 1), seed=0)
    return root


def _model(seed):
    """The tiny CoOp model (random-weight towers) as built after seeding."""
    torch.manual_seed(seed)
    return MODELS.build(Config.fromfile(CONFIG).model)


def _features(model, classes):
    model.eval()
    model.head.set_class_names(list(classes), template='a photo of a {}.')
    with torch.no_grad():
        return model.head.text_features().numpy()


def _cosine_stats(feats):
    sims = feats @ feats.T
    upper = sims[np.triu_indices(len(feats), k=1)]
    return upper.mean(), upper.min(), upper.max()


def _printed_stats(log, label):
    match = re.search(
        rf'^{re.escape(label)}: (\d+) classes, pairwise cosine mean '
        r'(\S+) min (\S+) max (\S+)$', log, re.MULTILINE)
    assert match, log[-3000:]
    return int(match.group(1)), [float(x) for x in match.groups()[1:]]


def _main(capsys, *args):
    tsne_tool.main([CONFIG, *args])
    return capsys.readouterr().out


@pytest.mark.slow
def test_two_checkpoints_give_two_panels(data_root, tmp_path):
    model = _model(SEED)  # training builds the frozen towers the same way
    ckpts = []
    for i in range(2):
        with torch.no_grad():
            model.head.prompt_learner.ctx.add_(torch.randn(4, 64) * i)
        path = str(tmp_path / f'ckpt{i}.pth')
        torch.save({'state_dict': model.state_dict()}, path)
        ckpts.append(path)
    out, npz = str(tmp_path / 'tsne.png'), str(tmp_path / 'f.npz')
    log = _run([TOOL, CONFIG] + ckpts + [
        '--out', out, '--labels', 'before', 'after', '--save-features', npz,
        '--perplexity', '3', '--cfg-options',
        f'test_dataloader.dataset.data_root={data_root}'
    ], REPO)
    with Image.open(out) as image:
        assert image.format == 'PNG'
        assert image.size[0] > image.size[1] > 100  # two panels side by side
    saved = np.load(npz)
    assert list(saved['labels']) == ['before', 'after']
    assert saved['features'].shape == (2, 6, 64)
    assert saved['points'].shape == (2, 6, 2)
    # The features are the head's, for the test split's 6 classes.
    expected = _features(model, saved['classes'])
    np.testing.assert_allclose(saved['features'][1], expected, atol=1e-5)
    assert not np.allclose(saved['features'][0], saved['features'][1])
    for label, feats in zip(('before', 'after'), saved['features']):
        num_classes, printed = _printed_stats(log, label)
        assert num_classes == 6
        np.testing.assert_allclose(printed, _cosine_stats(feats), atol=1e-4)


def test_initial_prompts_follow_the_config_seed(data_root, tmp_path, capsys):
    root = f'test_dataloader.dataset.data_root={data_root}'
    npz = str(tmp_path / 'init.npz')
    out = _main(capsys, '--out', str(tmp_path / 'init.png'), '--save-features',
                npz, '--perplexity', '3', '--cfg-options', root)
    assert f'model built with seed {SEED} (randomness.seed)' in out
    saved = np.load(npz)
    assert list(saved['labels']) == ['init']
    init = _features(_model(SEED), saved['classes'])
    np.testing.assert_allclose(saved['features'][0], init, atol=1e-5)
    assert _printed_stats(out, 'init')[0] == 6
    # Without randomness.seed the model is built with --seed.
    out = _main(capsys, '--out', str(tmp_path / 'init5.png'),
                '--save-features', npz, '--perplexity', '3', '--seed', '5',
                '--cfg-options', root, 'randomness.seed=None')
    assert 'model built with seed 5 (--seed)' in out
    seeded = np.load(npz)['features'][0]
    np.testing.assert_allclose(
        seeded, _features(_model(5), saved['classes']), atol=1e-5)
    assert not np.allclose(seeded, init)
    # A checkpoint's default title: its folder and file names.
    ckpt = tmp_path / 'random' / 'epoch_1.pth'
    ckpt.parent.mkdir()
    torch.save({'state_dict': _model(SEED).state_dict()}, str(ckpt))
    out = _main(capsys, str(ckpt), '--out', str(tmp_path / 'one.png'),
                '--perplexity', '3', '--cfg-options', root)
    assert _printed_stats(out, 'random/epoch_1.pth')[0] == 6


def test_errors(data_root, tmp_path, capsys, monkeypatch):
    png = str(tmp_path / 'x.png')

    def usage_error(*args):
        with pytest.raises(SystemExit) as exc:
            tsne_tool.main(list(args) + ['--out', png])
        assert exc.value.code == 2
        return capsys.readouterr().err

    missing = str(tmp_path / 'missing.py')
    assert f'{missing} does not exist' in usage_error(missing)
    missing = str(tmp_path / 'missing.pth')
    assert f'{missing} does not exist' in usage_error(CONFIG, missing)
    assert '2 --labels for 1 panels' in usage_error(CONFIG, '--labels', 'a',
                                                    'b')
    two = str(tmp_path / 'two_classes')
    make_synthetic_coop_dataset(
        two, num_classes=2, images_per_class=(2, 1, 1), seed=0)
    assert 'the test dataset has 2 classes; t-SNE needs at least 3' in \
        usage_error(CONFIG, '--cfg-options',
                    f'test_dataloader.dataset.data_root={two}')

    foreign = str(tmp_path / 'foreign.pth')
    torch.save({'state_dict': {'backbone.other': torch.zeros(3)}}, foreign)
    with pytest.raises(
            ValueError,
            match=f'no tensor of {foreign} fits '
            'the model of the config'):
        tsne_tool.main([
            CONFIG, foreign, '--out', png, '--cfg-options',
            f'test_dataloader.dataset.data_root={data_root}'
        ])

    monkeypatch.setitem(sys.modules, 'sklearn.manifold', None)
    with pytest.raises(ImportError, match='pip install scikit-learn'):
        tsne_tool.embed(np.eye(4, dtype=np.float32), 30, 0)
    with pytest.raises(SystemExit, match='pip install scikit-learn'):
        tsne_tool.main([CONFIG, '--out', png])
