# Copyright (c) mmprompt contributors. All rights reserved.
from typing import List

from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import _ParamScheduler

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
