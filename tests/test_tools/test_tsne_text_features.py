# Copyright (c) mmprompt contributors. All rights reserved.
"""The t-SNE tool for class text features."""
import os.path as osp
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image
# A sibling test module (pytest puts this folder on sys.path).
from test_train_test import REPO, _run

from mmprompt.datasets import make_synthetic_coop_dataset
from mmprompt.registry import MODELS

TOOL = 'tools/analysis_tools/tsne_text_features.py'
CONFIG = osp.join(REPO, 'configs/coop/coop_tiny_synthetic.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_coop_dataset(
        root, num_classes=6, images_per_class=(2, 1, 1), seed=0)
    return root


def test_tsne_of_two_checkpoints(data_root, tmp_path):
    cfg = Config.fromfile(CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
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
        assert image.size[0] > image.size[1] > 100  # two panels side by side
    saved = np.load(npz)
    assert list(saved['labels']) == ['before', 'after']
    assert saved['points'].shape == (2, 6, 2)
    # The features are the head's, for the test split's 6 classes.
    model.head.set_class_names(list(saved['classes']), '{} texture.')
    model.eval()
    with torch.no_grad():
        expected = model.head.text_features().numpy()
    np.testing.assert_allclose(saved['features'][1], expected, atol=1e-5)
    assert not np.allclose(saved['features'][0], saved['features'][1])
    for label, feats in zip(('before', 'after'), saved['features']):
        sims = feats @ feats.T
        mean = sims[np.triu_indices(6, k=1)].mean()
        printed = re.search(rf'{label}: 6 classes, pairwise cosine mean '
                            r'([0-9.-]+)', log)
        assert float(printed.group(1)) == pytest.approx(mean, abs=1e-4)


def test_tsne_errors(tmp_path):
    def run(*args):
        return subprocess.run(
            [sys.executable, TOOL, CONFIG, *args, '--out',
             str(tmp_path / 'x.png')], cwd=REPO, capture_output=True,
            text=True)

    proc = run(str(tmp_path / 'missing.pth'))
    assert proc.returncode == 2
    assert 'missing.pth does not exist' in proc.stderr
    proc = run('--labels', 'a', 'b')
    assert '2 --labels for 1 panels' in proc.stderr
