# Copyright (c) mmprompt contributors. All rights reserved.
import os.path as osp
from unittest.mock import MagicMock

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.structures import DataSample

from mmprompt.engine.feature_store import frozen_tower_reason
from mmprompt.engine.lfa import LFALoop, refine, search_beta, top1
from mmprompt.errors import ConfigError, DataError
from mmprompt.models import TINY_MODEL
from mmprompt.models.heads import procrustes
from mmprompt.models.losses import adaptive_reranking_loss
from mmprompt.offline import make_procedural_dataset
from mmprompt.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEMPLATE = 'a photo of a {}.'
CLASSES = ['banded', 'dotted', 'striped']


def _head():
    head = MODELS.build(
        dict(
            type='LFAHead',
            text_encoder=dict(
                type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
            prompt_learner=dict(type='HandcraftedPrompts',
                                templates=TEMPLATE)))
    head.set_class_names(CLASSES, TEMPLATE)
    return head


def test_procrustes_is_the_svd_solution_and_orthogonal():
    g = torch.Generator().manual_seed(0)
    x = F.normalize(torch.randn(20, 6, generator=g, dtype=torch.float64), -1)
    y = F.normalize(torch.randn(20, 6, generator=g, dtype=torch.float64), -1)
    w = procrustes(x, y)
    u, _, vh = torch.linalg.svd(x.t() @ y)
    torch.testing.assert_close(w, u @ vh)
    torch.testing.assert_close(w @ w.t(), torch.eye(6, dtype=w.dtype))
    # it is the best orthogonal map: better than random orthogonal ones
    best = (x @ w - y).norm()
    for _ in range(5):
        q, _ = torch.linalg.qr(
            torch.randn(6, 6, generator=g, dtype=torch.float64))
        assert best <= (x @ q - y).norm()
    # a rotation is recovered exactly
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    torch.testing.assert_close(procrustes(x, x @ q), q)
    # beta pulls towards the identity
    eye = torch.eye(6, dtype=w.dtype)
    torch.testing.assert_close(procrustes(x, y, 0.25), 0.75 * w + 0.25 * eye)
    torch.testing.assert_close(procrustes(x, y, 1.0), eye)


def test_procrustes_rejects_bad_input():
    with pytest.raises(
            DataError, match=r'same N and D; got \(4, 3\) and '
            r'\(4, 5\)'):
        procrustes(torch.randn(4, 3), torch.randn(4, 5))
    with pytest.raises(ConfigError, match=r'beta must be in \[0, 1\]'):
        procrustes(torch.randn(4, 3), torch.randn(4, 3), 1.5)


def test_reranking_loss_matches_a_direct_computation():
    g = torch.Generator().manual_seed(1)
    image = torch.randn(5, 4, generator=g)
    text = torch.randn(6, 4, generator=g)
    labels = torch.tensor([0, 3, 5, 3, 1])
    knn, scale = 3, 4.0
    v, t = F.normalize(image, dim=-1), F.normalize(text, dim=-1)
    terms = []
    for i in range(5):
        dist = [float((v[i] - t[c]).norm()) for c in range(6)]
        nearest = sorted(range(6), key=lambda c: dist[c])[:knn]
        y = int(labels[i])
        for c in nearest:
            margin = (1 - float(t[c] @ t[y])) / scale
            terms.append(max(0.0, dist[y] + margin - dist[c]))
    expected = sum(terms) / len(terms)
    got = adaptive_reranking_loss(image, text, labels, knn, scale)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    module = MODELS.build(
        dict(type='AdaptiveRerankingLoss', knn=3, scale=4., loss_weight=2.))
    assert float(module(image, text, labels)) == pytest.approx(
        2 * expected, rel=1e-5)
    # k larger than the classes is capped; a perfect match gives 0
    assert float(adaptive_reranking_loss(text, text, torch.arange(6),
                                         knn=10)) == pytest.approx(
                                             0., abs=1e-6)
    with pytest.raises(DataError, match='same width D'):
        adaptive_reranking_loss(image, text[:, :3], labels)
    with pytest.raises(DataError, match='labels of shape'):
        adaptive_reranking_loss(image, text, labels[:2])


def test_head_aligns_normalised_features_and_saves_only_w():
    head = _head()
    assert set(head.state_dict()) == {'weight'}
    torch.testing.assert_close(head.weight.detach(), torch.eye(64))
    x = torch.randn(4, 64)
    w = torch.randn(64, 64)
    head.set_alignment(w)
    text = F.normalize(head.prompt_learner(head.text_encoder), dim=-1)
    aligned = F.normalize(F.normalize(x, dim=-1) @ w, dim=-1)
    torch.testing.assert_close(
        head((x, )), head.logit_scale * aligned @ text.t())
    samples = [DataSample().set_gt_label(i) for i in (0, 1, 2, 1)]
    loss = head.loss((x, ), samples)['loss']
    expected = adaptive_reranking_loss(
        F.normalize(x, dim=-1) @ w, text, torch.tensor([0, 1, 2, 1]))
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    with pytest.raises(DataError, match=r'\(64, 64\), got \(3, 3\)'):
        head.set_alignment(torch.eye(3))
    with pytest.raises(DataError, match=r'expects \(B, 64\) image features'):
        head((torch.randn(2, 32), ))


def _clusters(seed=0, n=12, classes=3, dim=8):
    g = torch.Generator().manual_seed(seed)
    text = F.normalize(torch.randn(classes, dim, generator=g), dim=-1)
    q, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g))
    labels = torch.arange(n) % classes
    image = text[labels] @ q.t() + 0.05 * torch.randn(n, dim, generator=g)
    return F.normalize(image, dim=-1), text, labels, g


def test_search_beta_and_refinement_improve_a_rotated_problem():
    image, text, labels, g = _clusters()
    beta, history = search_beta(image, text, labels, g)
    assert len(history) == 25 and history[0]['beta'] == 0.0
    best = max(h['top1'] for h in history)
    assert next(h for h in history if h['top1'] == best)['beta'] == beta
    w0 = procrustes(image, text[labels], beta)
    assert top1(image, text, labels, w0) >= top1(image, text, labels)
    loss = MODELS.build(dict(type='AdaptiveRerankingLoss'))
    w, losses = refine(w0, image, text, labels, loss, g, n_iters=50)
    assert len(losses) == 50 and w.shape == (8, 8)
    assert top1(image, text, labels, w) == 100.0
    # the same generator state gives the same refinement
    w_a, _ = refine(
        w0,
        image,
        text,
        labels,
        loss,
        torch.Generator().manual_seed(3),
        n_iters=5)
    w_b, _ = refine(
        w0,
        image,
        text,
        labels,
        loss,
        torch.Generator().manual_seed(3),
        n_iters=5)
    torch.testing.assert_close(w_a, w_b)


@pytest.mark.parametrize('kwargs,match', [
    (dict(n_iters=-1), 'n_iters must be an int'),
    (dict(beta=2.0), r'beta must be in \[0, 1\] or None'),
    (dict(batch_fraction=0.0), r'batch_fraction must be in \(0, 1\]'),
])
def test_loop_rejects_bad_settings(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        LFALoop(MagicMock(), MagicMock(), **kwargs)


def test_loop_fit_rejects_mismatched_widths():
    loop = LFALoop.__new__(LFALoop)
    loop._runner = MagicMock(seed=1)
    head = _head()
    with pytest.raises(DataError, match='are 32-d but the class text'):
        loop.fit(head, torch.randn(6, 32), torch.tensor([0, 1, 2] * 2))


def test_the_feature_store_serves_lfa():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/lfa/lfa_tinyclip_procdtd_fewshot4.py'))
    assert cfg.train_cfg.type == 'LFALoop'
    assert frozen_tower_reason(MODELS.build(cfg.model)) is None


@pytest.mark.slow
def test_lfa_beats_zero_shot_in_the_offline_world(tmp_path):
    root = str(tmp_path / 'procdtd')
    make_procedural_dataset(root, num_train=8, num_val=2, num_test=12, seed=7)

    def run(config, work_dir):
        cfg = Config.fromfile(osp.join(REPO, config))
        cfg.work_dir = str(tmp_path / work_dir)
        for split in ('train', 'val', 'test'):
            if cfg.get(f'{split}_dataloader'):
                cfg[f'{split}_dataloader'].dataset.data_root = root
        runner = Runner.from_cfg(cfg)
        if cfg.get('train_cfg'):
            runner.train()
        return runner.test(), runner

    zero_shot, _ = run('configs/zeroshot/clip_tinyclip_procdtd_fewshot.py',
                       'zs')
    lfa, runner = run('configs/lfa/lfa_tinyclip_procdtd_fewshot4.py', 'lfa')
    print(f'zero-shot {zero_shot}\nLFA {lfa}')
    assert lfa['accuracy/top1'] > zero_shot['accuracy/top1'] + 3
    # the checkpoint holds W alone
    ckpt = torch.load(
        osp.join(runner.work_dir, 'epoch_1.pth'), map_location='cpu')
    assert set(ckpt['state_dict']) == {'head.weight'}
