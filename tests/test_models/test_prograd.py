# Copyright (c) mmprompt contributors. All rights reserved.
"""ProGrad: the head's two losses, the projection and the optimiser step."""
import os.path as osp

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

from mmprompt.deployment.export import unbakeable_reason
from mmprompt.engine.feature_store import frozen_tower_reason
from mmprompt.engine.optimizers import (AmpProGradOptimWrapper,
                                        ProGradOptimWrapper, prograd_project)
from mmprompt.errors import ConfigError
from mmprompt.models import TINY_MODEL
from mmprompt.registry import MODELS, OPTIM_WRAPPERS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEMPLATE = 'a photo of a {}.'
CLASSES = ['banded', 'dotted', 'striped']


def _head(**kwargs):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='ProGradHead',
            text_encoder=dict(
                type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
            prompt_learner=dict(
                type='CoOpPromptLearner', ctx_init='a photo of a'),
            **kwargs))


def _samples(labels):
    return [DataSample().set_gt_label(label) for label in labels]


def _expected(g_d, g_g, lam=1.0):
    dot = (g_d * g_g).sum()
    if dot < 0:
        return g_d - lam * dot / (g_g * g_g).sum() * g_g
    return g_d


# The projection ----------------------------------------------------------
def test_projection_of_a_conflicting_pair_is_the_formula():
    torch.manual_seed(0)
    g_g = torch.randn(3, 5)
    g_d = -g_g + 0.3 * torch.randn(3, 5)  # obtuse
    assert (g_d * g_g).sum() < 0
    for lam in (1.0, 0.8):
        out = prograd_project(g_d, g_g, lam)
        assert torch.allclose(out, _expected(g_d, g_g, lam), atol=1e-6)
    # lambda 1 leaves no component along G_g.
    assert (prograd_project(g_d, g_g) * g_g).sum().abs() < 1e-5
    assert torch.equal(
        prograd_project(torch.tensor([1., -1.]), torch.tensor([0., 1.])),
        torch.tensor([1., 0.]))


def test_projection_keeps_an_aligned_or_zero_gradient():
    torch.manual_seed(1)
    g_g = torch.randn(4, 6)
    g_d = g_g + 0.3 * torch.randn(4, 6)  # acute
    assert torch.equal(prograd_project(g_d, g_g), g_d)
    # Orthogonal, zero G_g (prompts = zero-shot CLIP) or zero G_d: G_d.
    assert torch.equal(
        prograd_project(torch.tensor([1., 0.]), torch.tensor([0., 3.])),
        torch.tensor([1., 0.]))
    assert torch.equal(prograd_project(g_d, torch.zeros_like(g_d)), g_d)
    zero = torch.zeros_like(g_d)
    assert torch.equal(prograd_project(zero, g_g), zero)
    with pytest.raises(ValueError, match=r'\(4, 6\) but grad_g has \(6,\)'):
        prograd_project(g_d, g_g[0])


def test_projection_commutes_with_loss_scaling():
    torch.manual_seed(2)
    g_g = torch.randn(7)
    g_d = -g_g + 0.5 * torch.randn(7)
    ref = prograd_project(g_d, g_g)
    # The same scale on both (AMP's scaler) and any scale on G_g.
    for s_d, s_g in ((1024., 1024.), (65536., 65536.), (8., 0.01)):
        out = prograd_project(s_d * g_d, s_g * g_g) / s_d
        assert torch.allclose(out, ref, atol=1e-5)


def test_non_finite_general_gradient():
    g_d = torch.tensor([1., -1.])
    g_g = torch.tensor([float('inf'), 1.])
    # Without a loss scaler it is ignored (the official code's NaN cosine);
    # with one the result is NaN so that the scaler skips the step.
    assert torch.equal(prograd_project(g_d, g_g), g_d)
    assert torch.isnan(prograd_project(g_d, g_g,
                                       propagate_nonfinite=True)).all()
    nan = torch.tensor([float('nan'), 0.])
    assert torch.isnan(prograd_project(g_d, nan, 1., True)).all()
    assert torch.equal(prograd_project(g_d, g_d, 1., True), g_d)


# The optimiser wrapper ---------------------------------------------------
class _Quadratic(nn.Module):
    """Two parameter tensors; loss = w . a (so grad = a) per tensor."""

    def __init__(self):
        super().__init__()
        self.w1 = nn.Parameter(torch.tensor([1., 2., 3.]))
        self.w2 = nn.Parameter(torch.tensor([[0.5, -0.5]]))
        self.frozen = nn.Parameter(torch.ones(2), requires_grad=False)


A1, B1 = torch.tensor([1., -2., 0.5]), torch.tensor([-1., 1., 2.])  # obtuse
A2, B2 = torch.tensor([[1., 1.]]), torch.tensor([[2., 0.5]])  # acute


def _losses(model):
    a1, b1, a2, b2 = (t.to(model.w1.device) for t in (A1, B1, A2, B2))
    loss_d = (model.w1 * a1).sum() + (model.w2 * a2).sum()
    loss_g = (model.w1 * b1).sum() + (model.w2 * b2).sum()
    return torch.stack([loss_d, loss_g])


def _wrapper(model, lr=0.1, cls=ProGradOptimWrapper, **kwargs):
    optimizer = torch.optim.SGD(
        [p for p in model.parameters() if p.requires_grad], lr=lr)
    return cls(optimizer=optimizer, **kwargs)


def test_step_is_sgd_on_the_projected_gradient_per_tensor():
    model = _Quadratic()
    w1, w2 = model.w1.detach().clone(), model.w2.detach().clone()
    wrapper = _wrapper(model, lambda_=1.0)
    wrapper.update_params(_losses(model))
    # w1: A1 . B1 = -2 < 0, |B1|^2 = 6 -> G = A1 + B1 / 3 (by hand).
    g1 = torch.tensor([1 - 1 / 3, -2 + 1 / 3, 0.5 + 2 / 3])
    assert torch.allclose(model.w1.detach(), w1 - 0.1 * g1, atol=1e-6)
    # w2: A2 . B2 = 2.5 > 0 -> G = A2 (the projection is per tensor).
    assert torch.allclose(model.w2.detach(), w2 - 0.1 * A2, atol=1e-6)
    assert model.w1.grad is None or not model.w1.grad.any()  # zeroed
    # lambda 0 is CoOp: the plain CE step.
    model = _Quadratic()
    _wrapper(model, lambda_=0.).update_params(_losses(model))
    assert torch.allclose(model.w1.detach(), w1 - 0.1 * A1, atol=1e-6)


class _ScaledWrapper(ProGradOptimWrapper):
    """A stand-in for AmpOptimWrapper: scales every backward by 2^16 and
    unscales before stepping, as GradScaler does."""

    class _Scaler:
        scale_value = 2.**16

        def scale(self, loss):
            return loss * self.scale_value

        def is_enabled(self):
            return True

    loss_scaler = _Scaler()

    def backward(self, loss, **kwargs):
        self.loss_scaler.scale(loss).backward(**kwargs)
        self._inner_count += 1

    def step(self, **kwargs):
        grads = [p.grad for p in self.param_groups[0]['params']]
        self.scaled_grads = [g.clone() for g in grads]
        if all(torch.isfinite(g).all() for g in grads):
            for g in grads:
                g.div_(self.loss_scaler.scale_value)
            super().step(**kwargs)


def test_scaled_backward_gives_the_same_projection():
    plain, scaled = _Quadratic(), _Quadratic()
    _wrapper(plain).update_params(_losses(plain))
    wrapper = _wrapper(scaled, cls=_ScaledWrapper)
    wrapper.update_params(_losses(scaled))
    for p, q in zip(plain.parameters(), scaled.parameters()):
        assert torch.allclose(p, q, atol=1e-6)
    # An overflow in G_g reaches the scaler, which skips the step.
    model = _Quadratic()
    before = model.w1.detach().clone()
    wrapper = _wrapper(model, cls=_ScaledWrapper)
    losses = _losses(model)
    losses = torch.stack([losses[0], losses[1] * float('inf')])
    wrapper.update_params(losses)
    assert torch.isnan(wrapper.scaled_grads[0]).all()
    assert torch.equal(model.w1.detach(), before)


@pytest.mark.skipif(
    not torch.cuda.is_available(), reason='float16 AMP needs a GPU')
def test_amp_wrapper_on_the_gpu_matches_fp32():
    plain, amp = _Quadratic(), _Quadratic().cuda()
    _wrapper(plain).update_params(_losses(plain))
    wrapper = _wrapper(amp, cls=AmpProGradOptimWrapper, dtype='float16')
    assert wrapper._propagates_nonfinite()  # a real GradScaler
    wrapper.update_params(_losses(amp))
    for p, q in zip(plain.parameters(), amp.parameters()):
        assert torch.allclose(p, q.cpu(), atol=1e-5)


@pytest.mark.skipif(
    torch.cuda.is_available(), reason='the CPU path of compat.py')
def test_amp_wrapper_in_bfloat16_matches_fp32():
    # bfloat16 autocast (the CPU's, see mmprompt/compat.py) scales nothing:
    # a non-finite G_g is then ignored, as without AMP.
    plain, amp = _Quadratic(), _Quadratic()
    _wrapper(plain).update_params(_losses(plain))
    wrapper = _wrapper(amp, cls=AmpProGradOptimWrapper, dtype='bfloat16')
    assert not wrapper._propagates_nonfinite()
    with wrapper.optim_context(amp):
        losses = _losses(amp)
    wrapper.update_params(losses)
    for p, q in zip(plain.parameters(), amp.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_wrapper_errors():
    model = _Quadratic()
    for bad in (-0.5, 1.5, 'one', True):
        with pytest.raises(
                ConfigError,
                match=r'lambda_ must be a number in '
                r'\[0, 1\].*got ' + repr(bad)):
            _wrapper(model, lambda_=bad)
    with pytest.raises(ConfigError, match='accumulative_counts=2 is not'):
        _wrapper(model, accumulative_counts=2)
    with pytest.raises(
            ConfigError, match=r"got \(\); set model.type="
            r"'ProGradClassifier'"):
        _wrapper(model).update_params(_losses(model).sum())
    built = OPTIM_WRAPPERS.build(
        dict(
            type='ProGradOptimWrapper',
            lambda_=0.8,
            optimizer=torch.optim.SGD([model.w1], lr=0.1)))
    assert isinstance(built, ProGradOptimWrapper) and built.lambda_ == 0.8


# The head ----------------------------------------------------------------
def test_loss_kg_is_t2_kl_from_zero_shot_to_prompted_predictions():
    head = _head(temperature=2.0)
    head.set_class_names(CLASSES, TEMPLATE)
    feats = (torch.randn(4, 64), )
    samples = _samples([0, 1, 2, 1])
    # Context "a photo of a" + "{name}." is the hand-crafted prompt itself:
    # the prompted predictions are the zero-shot ones.
    assert head.loss(feats, samples)['loss_kg'].item() == pytest.approx(
        0., abs=1e-5)
    with torch.no_grad():
        head.prompt_learner.ctx.add_(torch.randn_like(head.prompt_learner.ctx))
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_ce', 'loss_kg'}
    # Direct computation.
    image = F.normalize(feats[0], dim=-1)
    learned = F.normalize(head.prompt_learner(head.text_encoder), dim=-1)
    tokens = head.text_encoder.tokenize([TEMPLATE.format(c) for c in CLASSES])
    with torch.no_grad():
        clip = F.normalize(
            head.text_encoder(head.text_encoder.embed(tokens), tokens), dim=-1)
    scale = head.logit_scale
    logits, zs = scale * image @ learned.t(), scale * image @ clip.t()
    p_zs = F.softmax(zs / 2, dim=-1)
    kl = (p_zs * (p_zs.log() - F.log_softmax(logits / 2, dim=-1))).sum(-1)
    assert losses['loss_kg'].item() == pytest.approx(
        4 * kl.mean().item(), rel=1e-4)
    assert losses['loss_ce'].item() == pytest.approx(
        F.cross_entropy(logits, torch.tensor([0, 1, 2, 1])).item(), rel=1e-4)
    # Its gradient is that of the official soft cross-entropy.
    ctx = head.prompt_learner.ctx
    (g_ours, ) = torch.autograd.grad(losses['loss_kg'], ctx)
    official = -(p_zs * F.log_softmax(logits / 2, -1)).sum(1).mean() * 4
    (g_official, ) = torch.autograd.grad(official, ctx)
    assert torch.allclose(g_ours, g_official, rtol=1e-3, atol=1e-7)


def test_head_errors():
    for bad in (0, -1.0, 'hot', None):
        with pytest.raises(
                ConfigError,
                match=r'temperature must be a positive number.*got ' +
                repr(bad)):
            _head(temperature=bad)


# The classifier ----------------------------------------------------------
@pytest.fixture(scope='module')
def model():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/_base_/models/prograd_tinyclip.py'))
    with DefaultScope.overwrite_default_scope('mmprompt'):
        model = MODELS.build(cfg.model)
    model.head.set_class_names(CLASSES, TEMPLATE)
    return model


def test_classifier_hands_the_pair_and_logs_both(model):
    losses = {
        'loss_ce': torch.tensor(2.0),
        'loss_kg': torch.tensor(0.5),
        'accuracy_top-1': torch.tensor(50.)
    }
    pair, log_vars = model.parse_losses(losses)
    assert torch.equal(pair, torch.tensor([2.0, 0.5]))
    assert list(log_vars) == ['loss', 'loss_ce', 'loss_kg', 'accuracy_top-1']
    assert log_vars['loss'].item() == 2.5
    with pytest.raises(
            ConfigError, match=r"without 'loss_kg'; use "
            r"type='ProGradHead'"):
        model.parse_losses({'loss': torch.tensor(1.)})
    plain = OptimWrapper(torch.optim.SGD(model.head.parameters(), lr=1.))
    with pytest.raises(
            ConfigError,
            match=r"optim_wrapper is OptimWrapper, "
            r"which sums the losses; set optim_wrapper.type="
            r"'ProGradOptimWrapper'"):
        model.train_step({}, plain)


def test_classifier_trains_a_step_and_infers_like_coop(model):
    wrapper = _wrapper(model, lr=0.01)
    data = dict(
        inputs=torch.randint(0, 255, (2, 3, 64, 64)).float(),
        data_samples=_samples([0, 2]))
    before = model.head.prompt_learner.ctx.detach().clone()
    log_vars = model.train_step(data, wrapper)
    assert {'loss', 'loss_ce', 'loss_kg'} <= set(log_vars)
    assert not torch.equal(model.head.prompt_learner.ctx, before)
    # Text-only at inference: the feature store may serve the image
    # features and the exporter bakes it as CoOp.
    assert frozen_tower_reason(model) is None
    assert unbakeable_reason(
        type(model), type(model.head), type(model.head.prompt_learner)) is None


# Learning in the offline world --------------------------------------------
@pytest.mark.slow
def test_prograd_learns_the_base_classes(tmp_path):
    """ProGrad beats zero-shot CLIP on the base classes it trains on (tiny
    CLIP, a small cut of the procedural mini-DTD, as
    test_learning_procdtd.py's CoOp test)."""
    from mmengine.runner import Runner

    from mmprompt.offline import make_procedural_dataset
    root = str(tmp_path / 'procdtd')
    make_procedural_dataset(root, num_train=16, num_val=2, num_test=12, seed=7)

    def run(config, work_dir, epochs=None):
        cfg = Config.fromfile(osp.join(REPO, config))
        cfg.work_dir = str(tmp_path / work_dir)
        for split in ('train', 'val', 'test'):
            loader = cfg.get(f'{split}_dataloader')
            if loader:
                loader.dataset.data_root = root
        cfg.default_hooks.logger.interval = 50
        if epochs is None:
            return Runner.from_cfg(cfg).test()
        cfg.train_cfg.max_epochs = epochs
        cfg.train_cfg.val_interval = epochs + 1  # no validation
        cfg.param_scheduler[1].T_max = epochs
        cfg.default_hooks.checkpoint.interval = epochs
        runner = Runner.from_cfg(cfg)
        runner.train()
        return runner.test()

    zero_shot = run('configs/zeroshot/clip_tinyclip_procdtd.py', 'zs')
    prograd = run('configs/prograd/prograd_tinyclip_procdtd.py', 'pg', 15)
    print(f'zero-shot {zero_shot}\nProGrad   {prograd}')
    # CoOp's margin in test_learning_procdtd.py (4 points over zero-shot).
    assert prograd['base/top1'] > zero_shot['base/top1'] + 4
    assert 0 <= prograd['new/top1'] <= 100


# DDP -----------------------------------------------------------------------
class _Regression(nn.Module):
    """``forward(x)`` -> ``(loss_d, loss_g)`` of one weight; on the batch of
    :func:`_full_batch` their gradients conflict."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([0.5, -1.0, 2.0]))

    def forward(self, x):
        loss_d = ((x @ self.w - 1)**2).mean()
        loss_g = (self.w * torch.tensor([-1., 2., -3.])).sum() + 0.1 * (
            (x @ self.w)**2).mean()
        return torch.stack([loss_d, loss_g])


def _full_batch():
    return torch.randn(8, 3, generator=torch.Generator().manual_seed(0))


def _step(x):
    """The projected gradient of one process on ``x``."""
    model = _Regression()
    g_d, g_g = (
        torch.autograd.grad(loss, model.w, retain_graph=True)[0]
        for loss in model(x))
    return g_d, g_g


def _ddp_worker(rank, world, port, out):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{port}',
        rank=rank,
        world_size=world)
    try:
        model = _Regression()
        ddp = DistributedDataParallel(model)
        wrapper = _wrapper(model, lr=0.1)
        wrapper.update_params(ddp(_full_batch().chunk(world)[rank]))
        if rank == 0:
            torch.save(model.w.detach(), out)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_projects_the_rank_averaged_gradients(tmp_path):
    import socket

    import torch.multiprocessing as mp
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    out = str(tmp_path / 'w.pth')
    mp.spawn(_ddp_worker, args=(2, port, out), nprocs=2, join=True)
    # One process on the whole batch takes the same step.
    g_d, g_g = _step(_full_batch())
    assert (g_d * g_g).sum() < 0  # the projection is active
    w0 = _Regression().w.detach()
    w = w0 - 0.1 * _expected(g_d, g_g)
    assert torch.allclose(torch.load(out), w, atol=1e-6)
    # Averaging the projections of each rank's half would not.
    per_rank = sum(prograd_project(*_step(x))
                   for x in _full_batch().chunk(2)) / 2
    assert not torch.allclose(w0 - 0.1 * per_rank, w, atol=1e-3)
