# Copyright (c) mmprompt contributors. All rights reserved.
from typing import Dict, Tuple

import torch
from mmpretrain.models.classifiers import ImageClassifier

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS


@MODELS.register_module()
class ProGradClassifier(ImageClassifier):
    """mmpretrain's :class:`ImageClassifier` whose parsed loss is ProGrad's
    pair ``(loss_d, loss_g)`` instead of their sum.

    Zhu et al., "Prompt-aligned Gradient for Prompt Tuning", ICCV 2023. The
    head (:class:`ProGradHead`) returns ``loss_ce`` and ``loss_kg`` as any
    head does; :meth:`parse_losses` logs them (and their sum, ``loss``) as
    usual but hands the optimiser wrapper the ``(2, )`` tensor
    ``[sum of the other loss terms, loss_kg]``, which
    :class:`ProGradOptimWrapper` backpropagates apart and projects. Both
    ``BaseModel.train_step`` and mmengine's DDP wrapper call
    ``parse_losses`` of the model, so this works in single-process and
    distributed training alike. Feature extraction, the loss dict and
    inference are :class:`ImageClassifier`'s: the feature store may serve
    the frozen image features, and the exporter bakes it like CoOp.

    Args:
        knowledge_loss (str): The key of the general-knowledge loss in the
            head's loss dict. Defaults to 'loss_kg'.
        **kwargs: :class:`ImageClassifier` arguments.
    """

    def __init__(self, *args, knowledge_loss: str = 'loss_kg', **kwargs):
        super().__init__(*args, **kwargs)
        self.knowledge_loss = knowledge_loss

    def train_step(self, data, optim_wrapper) -> Dict[str, torch.Tensor]:
        """``BaseModel.train_step``, refusing an optimiser wrapper that
        would sum the two losses (DDP training calls ``parse_losses``
        directly, and a plain wrapper then fails on the ``(2, )`` loss)."""
        if not hasattr(optim_wrapper, 'lambda_'):
            raise ConfigError(
                f'ProGradClassifier: optim_wrapper is '
                f'{type(optim_wrapper).__name__}, which sums the losses; '
                "set optim_wrapper.type='ProGradOptimWrapper' (or "
                "'AmpProGradOptimWrapper' for mixed precision, in place of "
                'tools/train.py --amp).')
        return super().train_step(data, optim_wrapper)

    def parse_losses(
        self, losses: Dict[str, torch.Tensor]
    ) -> Tuple[torch.Tensor, Dict[str, torch.Tensor]]:
        """``(tensor([loss_d, loss_g]), log_vars)``.

        ``loss_d`` sums every loss term but ``knowledge_loss`` (the keys
        containing 'loss', as ``BaseModel.parse_losses`` does); ``log_vars``
        is ``BaseModel``'s (each term and their sum, ``loss``).

        Raises:
            ConfigError: The head returned no ``knowledge_loss``.
        """
        if self.knowledge_loss not in losses:
            raise ConfigError(
                f'ProGradClassifier: the head ({type(self.head).__name__}) '
                f'returned {sorted(losses)}, without {self.knowledge_loss!r}; '
                "use type='ProGradHead' or set knowledge_loss.")
        _, log_vars = super().parse_losses(losses)
        loss_g = log_vars[self.knowledge_loss]
        loss_d = sum(
            value for key, value in log_vars.items()
            if 'loss' in key and key not in ('loss', self.knowledge_loss))
        if not isinstance(loss_d, torch.Tensor):
            raise ConfigError(
                f'ProGradClassifier: the head ({type(self.head).__name__}) '
                f'returned {sorted(losses)}, no task loss besides '
                f'{self.knowledge_loss!r}.')
        return torch.stack([loss_d, loss_g]), log_vars
