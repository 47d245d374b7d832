# Copyright (c) mmprompt contributors. All rights reserved.
import math

import pytest
import torch
from mmengine.config import Config

from mmprompt.registry import PARAM_SCHEDULERS


def dassl_lr(epoch, lr, max_epochs, warmup_lr=1e-5):
    """Dassl's ConstantWarmupScheduler(CosineAnnealingLR(T_max=max_epochs)).

    Epoch 0 trains at the warm-up lr; epoch e >= 1 at cosine step e - 1.
    """
    if epoch == 0:
        return warmup_lr
    return lr * (1 + math.cos(math.pi * (epoch - 1) / max_epochs)) / 2


def _lrs(schedulers, optimizer, epochs):
    lrs = []
    for _ in range(epochs):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        for scheduler in schedulers:
            scheduler.step()
    return lrs


@pytest.mark.parametrize('max_epochs', [5, 200])
def test_coop_schedule_config_matches_dassl(max_epochs):
    cfg = Config.fromfile('configs/_base_/schedules/coop_sgd_cosine.py')
    lr = cfg.optim_wrapper.optimizer.lr
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=lr)
    schedulers = []
    for sched in cfg.param_scheduler:
        sched = dict(sched, optimizer=optimizer)
        assert 'T_max' not in sched  # it follows max_epochs
        sched.setdefault('end', max_epochs)  # as the runner does
        schedulers.append(PARAM_SCHEDULERS.build(sched))
    got = _lrs(schedulers, optimizer, max_epochs)
    expected = [dassl_lr(e, lr, max_epochs) for e in range(max_epochs)]
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_mmengine_constant_lr_would_not_restore():
    """Why ConstantWarmupLR exists: ConstantLR(end=1) keeps its factor."""
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=0.002)
    constant = PARAM_SCHEDULERS.build(
        dict(type='ConstantLR', optimizer=optimizer, factor=0.005, end=1))
    assert _lrs([constant], optimizer, 3)[-1] == pytest.approx(1e-5)


def test_dassl_cosine_takes_t_max_from_end_and_an_explicit_one_wins():
    param = torch.nn.Parameter(torch.zeros(1))

    def build(**kwargs):
        optimizer = torch.optim.SGD([param], lr=0.002)
        return PARAM_SCHEDULERS.build(
            dict(type='DasslCosineLR', optimizer=optimizer, **kwargs)), \
            optimizer

    dassl, optimizer = build(end=20)
    assert (dassl.T_max, dassl.begin, dassl.end, dassl.eta_min) == (20, 1, 20,
                                                                    0.)
    # mmengine's cosine with Dassl's explicit T_max, step for step.
    reference_optimizer = torch.optim.SGD([param], lr=0.002)
    reference = PARAM_SCHEDULERS.build(
        dict(
            type='CosineAnnealingLR',
            optimizer=reference_optimizer,
            T_max=20,
            eta_min=0.,
            begin=1,
            end=20))
    assert _lrs([dassl], optimizer, 20) == _lrs([reference],
                                                reference_optimizer, 20)
    assert build(T_max=8, end=20)[0].T_max == 8
