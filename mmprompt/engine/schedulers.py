# Copyright (c) mmprompt contributors. All rights reserved.
from typing import List, Optional

from mmengine.optim.scheduler import CosineAnnealingLR
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import INF, _ParamScheduler

from mmprompt.registry import PARAM_SCHEDULERS


@PARAM_SCHEDULERS.register_module()
class ConstantWarmupLR(LRSchedulerMixin, _ParamScheduler):
    """Hold a constant learning rate during warm-up, then hand back.

    Dassl's ``ConstantWarmupScheduler`` (used by CoOp, CoCoOp, MaPLe, ...):
    the first ``end - begin`` epochs train at the absolute ``warmup_lr``
    (1e-5), after which the base learning rate is restored for the next
    scheduler (a cosine starting at ``begin=end``). mmengine's
    ``ConstantLR(begin=0, end=1)`` cannot express this: it only undoes its
    factor at the step ``end``, which lies outside its ``[begin, end)`` range,
    so the factor is never undone and the following cosine decays from 1e-5.

    Args:
        optimizer (Optimizer): Wrapped optimizer.
        warmup_lr (float): The constant warm-up learning rate. Defaults to
            1e-5.
        begin (int): First step (epoch) of the warm-up. Defaults to 0.
        end (int): First step after the warm-up. Defaults to 1.
        last_step (int): The index of the last step. Defaults to -1.
        by_epoch (bool): Steps are epochs. Defaults to True.
        verbose (bool): Log every update. Defaults to False.
    """

    def __init__(self,
                 optimizer,
                 warmup_lr: float = 1e-5,
                 begin: int = 0,
                 end: int = 1,
                 last_step: int = -1,
                 by_epoch: bool = True,
                 verbose: bool = False):
        self.warmup_lr = warmup_lr
        super().__init__(
            optimizer,
            begin=begin,
            end=end,
            last_step=last_step,
            by_epoch=by_epoch,
            verbose=verbose)

    def _get_value(self) -> List[float]:
        groups = self.optimizer.param_groups
        if self.last_step == 0:
            return [self.warmup_lr for _ in groups]
        return [group[self.param_name] for group in groups]

    def step(self):
        super().step()
        if self._global_step == self.end:
            for group, base in zip(self.optimizer.param_groups,
                                   self.base_values):
                group[self.param_name] = base
            self._last_value = [
                group[self.param_name] for group in self.optimizer.param_groups
            ]


@PARAM_SCHEDULERS.register_module()
class DasslCosineLR(CosineAnnealingLR):
    """Dassl's cosine schedule, with ``T_max`` following ``max_epochs``.

    Dassl (CoOp, CoCoOp, MaPLe, DAPT, PromptSRC, ...) anneals over
    ``T_max = max_epochs`` epochs and starts the cosine after the warm-up
    epoch (``begin=1``), so epoch ``e >= 1`` trains at
    ``eta_min + (lr - eta_min) * (1 + cos(pi * (e - 1) / max_epochs)) / 2``.
    mmengine's ``CosineAnnealingLR`` defaults ``T_max`` to ``end - begin``
    (``max_epochs - 1``) instead. This one defaults it to ``end``, which the
    runner sets to ``train_cfg.max_epochs`` when a config leaves it out; so
    ``--cfg-options train_cfg.max_epochs=N`` alone changes the schedule, and
    no config needs to restate it. An explicit ``T_max`` still wins.

    Args:
        optimizer (Optimizer): Wrapped optimizer.
        T_max (int, optional): Annealing length; None: ``end``. Defaults to
            None.
        eta_min (float, optional): Minimum learning rate. Defaults to 0.
        begin (int): First step of the cosine. Defaults to 1 (after a
            one-epoch warm-up).
        end (int): Step the cosine stops at (the runner's default:
            ``max_epochs``).
        **kwargs: ``CosineAnnealingLR`` arguments (``by_epoch``, ...).

    Examples:
        >>> param_scheduler = [
        ...     dict(type='ConstantWarmupLR', warmup_lr=1e-5, begin=0, end=1),
        ...     dict(type='DasslCosineLR', eta_min=0., by_epoch=True)]
    """

    def __init__(self,
                 optimizer,
                 T_max: Optional[int] = None,
                 eta_min: Optional[float] = 0.,
                 begin: int = 1,
                 end: int = INF,
                 **kwargs):
        super().__init__(
            optimizer,
            T_max=end if T_max is None else T_max,
            eta_min=eta_min,
            begin=begin,
            end=end,
            **kwargs)
