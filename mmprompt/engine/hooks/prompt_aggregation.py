# Copyright (c) mmprompt contributors. All rights reserved.
"""PromptSRC's Gaussian-weighted aggregation of the prompts over epochs."""
import math
from typing import List

import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmprompt.errors import ConfigError
from mmprompt.registry import HOOKS


def gaussian_epoch_weights(num_epochs: int, mean: float,
                           std: float) -> List[float]:
    """Weights of epochs ``1 .. num_epochs`` under ``N(mean, std^2)``,
    normalised to sum to 1.

    Examples:
        >>> [round(w, 3) for w in gaussian_epoch_weights(3, 2, 1)]
        [0.274, 0.452, 0.274]
    """
    if num_epochs < 1 or std <= 0:
        raise ConfigError(
            f'gaussian_epoch_weights: num_epochs={num_epochs} must be >= 1 '
            f'and std={std} > 0.')
    dens = [
        math.exp(-0.5 * ((e - mean) / std)**2)
        for e in range(1, num_epochs + 1)
    ]
    total = sum(dens)
    if total == 0:
        raise ConfigError(
            f'gaussian_epoch_weights: N({mean}, {std}^2) gives no weight to '
            f'epochs 1..{num_epochs}; move the mean into that range.')
    return [d / total for d in dens]


@HOOKS.register_module()
class GaussianPromptAggregationHook(Hook):
    """Replace the trained prompts by their Gaussian-weighted epoch average.

    PromptSRC's GPA (Khattak et al., ICCV 2023): at the end of epoch ``e``
    the trainable parameters are added to a running sum with weight
    ``w_e`` (:func:`gaussian_epoch_weights` over ``max_epochs``). At the
    end of the last epoch the model's trainable parameters are replaced by
    the sum, before the checkpoint of that epoch is saved and before the
    final validation. Frozen weights are constant, so averaging only the
    trainable ones gives what the official code's whole-state-dict average
    gives. The running sum is saved in checkpoints, so ``--resume``
    continues it exactly.

    Args:
        mean (float): Mean epoch (1-based) of the Gaussian. Defaults to 15
            (PromptSRC, 20 epochs).
        std (float): Its standard deviation. Defaults to 1.
    """

    priority = 'NORMAL'  # before CheckpointHook (VERY_LOW)

    def __init__(self, mean: float = 15., std: float = 1.):
        self.mean = mean
        self.std = std
        self._sum = None

    @staticmethod
    def _trainable(runner) -> dict:
        model = runner.model
        if is_model_wrapper(model):
            model = model.module
        return {n: p for n, p in model.named_parameters() if p.requires_grad}

    def after_train_epoch(self, runner) -> None:
        weights = gaussian_epoch_weights(runner.max_epochs, self.mean,
                                         self.std)
        weight = weights[runner.epoch]  # runner.epoch is still 0-based here
        params = self._trainable(runner)
        with torch.no_grad():
            if self._sum is None:
                self._sum = {
                    n: weight * p.detach().clone()
                    for n, p in params.items()
                }
            else:  # a resumed sum may still be on the CPU
                for n, p in params.items():
                    self._sum[n] = self._sum[n].to(p.device).add_(
                        p.detach(), alpha=weight)
            if runner.epoch + 1 == runner.max_epochs:
                for n, p in params.items():
                    p.copy_(self._sum[n])
                print_log(
                    f'GaussianPromptAggregationHook: the {len(params)} '
                    f'trainable tensors now hold their N({self.mean}, '
                    f'{self.std}^2)-weighted average over '
                    f'{runner.max_epochs} epochs.',
                    logger='current')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self._sum is not None:
            checkpoint['gaussian_prompt_sum'] = {
                n: t.cpu()
                for n, t in self._sum.items()
            }

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get('gaussian_prompt_sum')
        if saved is not None:
            self._sum = dict(saved)
