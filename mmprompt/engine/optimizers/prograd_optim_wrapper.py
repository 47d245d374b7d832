# Copyright (c) mmprompt contributors. All rights reserved.
"""ProGrad's update: the task gradient projected to agree with the general
knowledge gradient, done by the optimiser wrapper."""
import numbers
from typing import Dict, List, Optional

import torch
import torch.distributed as dist
from mmengine.optim import AmpOptimWrapper, OptimWrapper

from mmprompt.errors import ConfigError
from mmprompt.registry import OPTIM_WRAPPERS


def prograd_project(grad_d: torch.Tensor,
                    grad_g: torch.Tensor,
                    lambda_: float = 1.0,
                    propagate_nonfinite: bool = False) -> torch.Tensor:
    """ProGrad's gradient of one parameter tensor.

    With ``G_d`` the gradient of the task loss (CE) and ``G_g`` the gradient
    of the general-knowledge loss (KL to zero-shot CLIP), both flattened::

        G = G_d - lambda * (G_d . G_g / |G_g|^2) * G_g   if G_d . G_g < 0
        G = G_d                                          otherwise

    as ``prograd_backward_and_update`` of the official Dassl fork
    (BeierZhu/Prompt-align, ``dassl/engine/trainer.py``), which decides on
    the cosine of the two and projects per parameter tensor. A zero ``G_g``
    or ``G_d`` gives ``G_d`` (the official code's NaN cosine fails the test
    the same way). The result is linear in ``G_d`` and does not change when
    ``G_g`` is scaled, so gradients scaled by AMP's loss scaler (the same
    factor for both, or any positive factor for ``G_g``) give the scaled
    projection. No host synchronisation.

    Args:
        grad_d (torch.Tensor): ``G_d``, any shape.
        grad_g (torch.Tensor): ``G_g``, the same shape.
        lambda_ (float): ``lambda``, how much of the conflicting component is
            removed (1: all of it). Defaults to 1.0.
        propagate_nonfinite (bool): If ``G_d . G_g`` is not finite (an inf or
            NaN in either), return NaNs so that AMP's loss scaler sees the
            overflow and skips the step; otherwise such a ``G_g`` is ignored
            (``G_d`` is returned), as the official code does. Defaults to
            False.

    Returns:
        torch.Tensor: ``G``, the shape and dtype of ``grad_d``.

    Examples:
        >>> g_d, g_g = torch.tensor([1., -1.]), torch.tensor([0., 1.])
        >>> prograd_project(g_d, g_g)
        tensor([1., 0.])
    """
    if grad_d.shape != grad_g.shape:
        raise ValueError(
            f'prograd_project: grad_d has shape {tuple(grad_d.shape)} but '
            f'grad_g has {tuple(grad_g.shape)}.')
    d, g = grad_d.float().flatten(), grad_g.float().flatten()
    dot = d @ g
    conflict = (dot < 0) & torch.isfinite(dot)
    # |G_g| = 0 implies G_d . G_g = 0, so the clamp only avoids 0 / 0.
    coef = dot / (g @ g).clamp_min(torch.finfo(g.dtype).tiny)
    out = torch.where(conflict, d - lambda_ * coef * g, d)
    if propagate_nonfinite:
        out = out + (dot - dot)  # 0, or NaN if the dot product is not finite
    return out.view_as(grad_d).to(grad_d.dtype)


class _ProGradMixin:
    """``update_params`` of ProGrad for an mmengine optimiser wrapper.

    ``loss`` is the pair ``(loss_d, loss_g)`` that
    :class:`ProGradClassifier` returns from ``parse_losses``. ``G_g`` is
    taken with :func:`torch.autograd.grad` (it does not touch ``.grad``, so
    DDP's gradient hooks do not run; it is averaged over the ranks by hand),
    ``G_d`` by the wrapper's ``backward`` (DDP averages it, AMP scales it);
    then every parameter's ``.grad`` becomes :func:`prograd_project` of the
    two and the wrapper steps. Projecting the rank-averaged gradients is
    projecting the gradients of the whole batch, as the official single-GPU
    (``DataParallel``) training does; the projection is not linear, so
    averaging per-rank projections would differ.
    """

    def __init__(self, *args, lambda_: float = 1.0, **kwargs):
        if isinstance(lambda_, bool) or not isinstance(
                lambda_, numbers.Real) or not 0 <= lambda_ <= 1:
            raise ConfigError(
                f'{type(self).__name__}: lambda_ must be a number in [0, 1] '
                '(1 removes the whole conflicting component, 0 is plain '
                f'CoOp; the official value is 1.0), but got {lambda_!r}.')
        super().__init__(*args, **kwargs)
        if self._accumulative_counts != 1:
            raise ConfigError(
                f'{type(self).__name__}: accumulative_counts='
                f'{self._accumulative_counts} is not supported: ProGrad '
                'projects the gradient of each batch, and a sum of projected '
                'micro-batch gradients is not the projected batch gradient. '
                'Set accumulative_counts=1 (and a larger batch).')
        self.lambda_ = float(lambda_)

    def _params(self) -> List[torch.Tensor]:
        return [
            p for group in self.optimizer.param_groups for p in group['params']
            if p.requires_grad
        ]

    def _scaled(self, loss: torch.Tensor) -> torch.Tensor:
        scaler = getattr(self, 'loss_scaler', None)
        return loss if scaler is None else scaler.scale(loss)

    def _propagates_nonfinite(self) -> bool:
        scaler = getattr(self, 'loss_scaler', None)
        return scaler is not None and bool(
            getattr(scaler, 'is_enabled', lambda: True)())

    def update_params(self,
                      loss: torch.Tensor,
                      step_kwargs: Optional[Dict] = None,
                      zero_kwargs: Optional[Dict] = None) -> None:
        """Backpropagate ``loss_g`` and ``loss_d`` apart, project, step.

        Args:
            loss (torch.Tensor): ``(2, )``: ``loss_d`` (CE) and ``loss_g``
                (the KL to zero-shot CLIP), from
                ``ProGradClassifier.parse_losses``.
            step_kwargs (dict, optional): Arguments for ``step``.
            zero_kwargs (dict, optional): Arguments for ``zero_grad``.
        """
        if not (isinstance(loss, torch.Tensor) and loss.shape == (2, )):
            what = tuple(loss.shape) if isinstance(loss, torch.Tensor) \
                else type(loss).__name__
            raise ConfigError(
                f'{type(self).__name__}: update_params needs the pair '
                f'(loss_d, loss_g) of a ProGradClassifier, but got {what}; '
                "set model.type='ProGradClassifier' (with a ProGradHead).")
        loss_d, loss_g = loss[0], loss[1]
        params = self._params()
        grads_g = torch.autograd.grad(
            self._scaled(loss_g), params, retain_graph=True, allow_unused=True)
        grads_g = [
            torch.zeros_like(p) if g is None else g
            for p, g in zip(params, grads_g)
        ]
        if dist.is_available() and dist.is_initialized() \
                and dist.get_world_size() > 1:
            for g in grads_g:
                dist.all_reduce(g)
                g.div_(dist.get_world_size())
        self.backward(loss_d)
        propagate = self._propagates_nonfinite()
        for p, g in zip(params, grads_g):
            if p.grad is not None:
                p.grad = prograd_project(p.grad, g, self.lambda_, propagate)
        if self.should_update():
            self.step(**(step_kwargs or {}))
            self.zero_grad(**(zero_kwargs or {}))


@OPTIM_WRAPPERS.register_module()
class ProGradOptimWrapper(_ProGradMixin, OptimWrapper):
    """:class:`OptimWrapper` that steps with ProGrad's projected gradient.

    Zhu et al., "Prompt-aligned Gradient for Prompt Tuning", ICCV 2023. See
    :func:`prograd_project` and :class:`ProGradClassifier`; pair it with
    that classifier and a :class:`ProGradHead`.

    Args:
        lambda_ (float): ``lambda`` of :func:`prograd_project`, in
            ``[0, 1]`` (official ``LOSS.LAMBDA``: 1.0; 0.8 for 8 and 16
            shots on Flowers102, DTD and EuroSAT). Defaults to 1.0.
        **kwargs: :class:`OptimWrapper` arguments (``optimizer``,
            ``clip_grad``; ``accumulative_counts`` must be 1).

    Raises:
        ConfigError: ``lambda_`` outside ``[0, 1]``, or gradient
            accumulation.
    """


@OPTIM_WRAPPERS.register_module()
class AmpProGradOptimWrapper(_ProGradMixin, AmpOptimWrapper):
    """:class:`AmpOptimWrapper` that steps with ProGrad's projected gradient.

    Both losses are backpropagated through the loss scaler; the projection
    commutes with the common scale, and a non-finite ``G_d . G_g`` makes
    the gradient NaN, so the scaler skips the step and lowers the scale, as
    for any overflow. (``tools/train.py --amp`` sets ``AmpOptimWrapper``,
    which cannot train ProGrad: set this type instead.)

    Args:
        lambda_ (float): See :class:`ProGradOptimWrapper`. Defaults to 1.0.
        **kwargs: :class:`AmpOptimWrapper` arguments (``optimizer``,
            ``dtype``, ``loss_scale``, ...).
    """
