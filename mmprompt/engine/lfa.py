# Copyright (c) mmprompt contributors. All rights reserved.
"""LFA: a linear alignment of frozen image features to class texts.

Ouali et al., "Black Box Few-Shot Adaptation for Vision-Language models",
ICCV 2023, as its official code computes it (saic-fi/LFA,
``feature_alignment.py``: ``main``, ``cross_validation_beta_procrustes``,
``mapping_refinement``; ``alignment_utils.py``). On the L2-normalised
frozen features ``X (N, D)`` of the training images and the normalised
class text features ``T (C, D)``:

1. beta-Procrustes: ``W0 = (1 - beta) U V^T + beta I`` with
   ``U S V^T = svd(X^T T[y])``; ``beta`` is searched (unless fixed) over 25
   values in ``[0, 1]``, each scored by the mean top-1 of 3 random 80/20
   splits of the training set, the first best kept;
2. refinement: ``n_iters`` full steps of AdamW (lr 5e-4, weight decay
   5e-4, betas (0.9, 0.999), eps 1e-8), the lr annealed by a cosine to
   1e-7, on the adaptive re-ranking loss
   (:class:`~mmprompt.models.losses.AdaptiveRerankingLoss`, k = 3, scale
   4) of ``X_b W`` where ``X_b`` is a random 75 % of the training
   features, with Gaussian noise (std 0.035) added with probability 1/2
   and dropout (p = 0.05) applied with probability 1/2. ``W`` is not kept
   orthogonal (LFA's ``--orthogonalize`` is off in its commands).

The features come from the feature store (one encoder pass of the
training set through the train dataloader's pipeline; configs give it the
test transform). LFA's published runs add five crops of every training
image (``--five-crop``); here each image has its single test view, the
official code's path without ``--five-crop`` (whose batch is then 75 % of
the images).
"""
import json
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import broadcast
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmprompt.engine.feature_store import dataset_features
from mmprompt.engine.one_epoch_loop import OneEpochLoop
from mmprompt.errors import ConfigError, DataError
from mmprompt.registry import LOOPS


def top1(image: torch.Tensor,
         text: torch.Tensor,
         labels: torch.Tensor,
         weight: Optional[torch.Tensor] = None) -> float:
    """Top-1 (%) of ``normalize(image @ W) @ text^T`` (``W`` = I if None)."""
    if weight is not None:
        image = image @ weight
    pred = (F.normalize(image, dim=-1) @ text.t()).argmax(-1)
    return float((pred == labels).float().mean() * 100)


def search_beta(image: torch.Tensor,
                text: torch.Tensor,
                labels: torch.Tensor,
                generator: torch.Generator,
                num_betas: int = 25,
                num_splits: int = 3,
                train_fraction: float = 0.8) -> Tuple[float, List[dict]]:
    """LFA's cross-validation of beta (``cross_validation_beta_procrustes``).

    For every beta of ``linspace(0, 1, num_betas)``, ``num_splits`` random
    permutations split the features into a first ``train_fraction`` (the
    Procrustes fit) and the rest (scored by top-1 against all classes);
    the beta of the best mean score (the first on ties) is returned.

    Args:
        image (torch.Tensor): Normalised features ``(N, D)``.
        text (torch.Tensor): Normalised class features ``(C, D)``.
        labels (torch.Tensor): Labels ``(N, )``.
        generator (torch.Generator): Draws the permutations.
        num_betas (int): Grid size. Defaults to 25.
        num_splits (int): Random splits per beta. Defaults to 3.
        train_fraction (float): Share of the fit. Defaults to 0.8.

    Returns:
        tuple: ``(beta, history)``, history the ``{beta, top1}`` of every
        grid value.
    """
    from mmprompt.models.heads.lfa_head import procrustes
    size = len(labels)
    cut = int(size * train_fraction)
    if cut < 1 or cut >= size:
        raise DataError(
            f'LFALoop: {size} training features cannot be split '
            f'{train_fraction:.0%} / {1 - train_fraction:.0%} to search '
            'beta; fix it instead (train_cfg.beta=0.9).')
    best, best_score, history = 0.0, float('-inf'), []
    for beta in torch.linspace(0.0, 1.0, num_betas).tolist():
        score = 0.0
        for _ in range(num_splits):
            perm = torch.randperm(size, generator=generator)
            fit, held = perm[:cut], perm[cut:]
            w = procrustes(image[fit], text[labels[fit]], beta)
            score += top1(image[held], text, labels[held], w)
        score /= num_splits
        history.append(dict(beta=beta, top1=score))
        if score > best_score:
            best, best_score = beta, score
    return best, history


def refine(weight: torch.Tensor,
           image: torch.Tensor,
           text: torch.Tensor,
           labels: torch.Tensor,
           loss_fn,
           generator: torch.Generator,
           n_iters: int = 200,
           lr: float = 5e-4,
           weight_decay: float = 5e-4,
           end_lr: float = 1e-7,
           batch_fraction: float = 0.75,
           gaussian_noise: float = 0.035,
           dropout: float = 0.05) -> Tuple[torch.Tensor, List[float]]:
    """LFA's refinement of ``W`` (``mapping_refinement``).

    Args:
        weight (torch.Tensor): The initial ``W (D, D)``.
        image (torch.Tensor): Normalised features ``(N, D)``.
        text (torch.Tensor): Normalised class features ``(C, D)``.
        labels (torch.Tensor): Labels ``(N, )``.
        loss_fn (callable): ``loss_fn(image @ W, text, labels)``.
        generator (torch.Generator): Draws the batches and augmentations.
        n_iters (int): Steps. Defaults to 200.
        lr (float): AdamW's lr. Defaults to 5e-4.
        weight_decay (float): AdamW's weight decay. Defaults to 5e-4.
        end_lr (float): The cosine's final lr. Defaults to 1e-7.
        batch_fraction (float): Share of the features in each step.
            Defaults to 0.75.
        gaussian_noise (float): Std of the noise added with probability
            1/2 (0: never). Defaults to 0.035.
        dropout (float): Dropout rate applied with probability 1/2 (0:
            never). Defaults to 0.05.

    Returns:
        tuple: ``(W, losses)``, the refined ``W`` and the loss of every
        step.
    """
    w = torch.nn.Parameter(weight.detach().clone())
    opt = torch.optim.AdamW([w],
                            lr=lr,
                            betas=(0.9, 0.999),
                            eps=1e-8,
                            weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(
        opt, max(n_iters, 1), eta_min=end_lr)
    size = len(labels)
    batch = max(1, int(size * batch_fraction))
    losses = []
    for _ in range(n_iters):
        idx = torch.randperm(size, generator=generator)[:batch]
        x, y = image[idx], labels[idx]
        if gaussian_noise > 0 and torch.rand(1, generator=generator) > 0.5:
            x = x + torch.randn(
                x.shape, generator=generator, dtype=x.dtype) * gaussian_noise
        if dropout > 0 and torch.rand(1, generator=generator) > 0.5:
            keep = torch.rand(x.shape, generator=generator) >= dropout
            x = x * keep.to(x.dtype) / (1.0 - dropout)
        opt.zero_grad()
        loss = loss_fn(x.to(w.device) @ w, text, y.to(w.device))
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    return w.detach(), losses


@LOOPS.register_module()
class LFALoop(OneEpochLoop):
    """Fit :class:`~mmprompt.models.heads.LFAHead`'s ``W`` on stored
    frozen features: beta-Procrustes, then re-ranking refinement.

    Runs as one training "epoch" of one iteration, like
    :class:`~mmprompt.engine.LinearProbeLoop`: the train hooks are called
    around the fit (``SetClassNamesHook`` binds the classes first), so
    ``CheckpointHook`` saves ``epoch_1.pth`` (``W`` only) and the val loop,
    if any, reports the result. Every rank computes the same fit from the
    same gathered features and seed; rank 0's ``W`` is broadcast. The beta
    search and the loss curve are written to ``<log_dir>/lfa.json``.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The training data (every sample
            once; the test transform, see the configs).
        n_iters (int): Refinement steps (LFA's per-dataset ``--n-iters``).
            Defaults to 200.
        beta (float, optional): Fixed beta in ``[0, 1]``; None searches it
            (LFA's few-shot runs). Defaults to None.
        num_betas (int): Grid of the search. Defaults to 25.
        num_splits (int): Splits per beta. Defaults to 3.
        lr (float): AdamW's lr. Defaults to 5e-4.
        weight_decay (float): AdamW's weight decay. Defaults to 5e-4.
        end_lr (float): The cosine's final lr. Defaults to 1e-7.
        batch_fraction (float): Share of the features per step. Defaults
            to 0.75.
        gaussian_noise (float): Feature noise std. Defaults to 0.035.
        dropout (float): Feature dropout rate. Defaults to 0.05.
    """

    def __init__(self,
                 runner,
                 dataloader,
                 n_iters: int = 200,
                 beta: Optional[float] = None,
                 num_betas: int = 25,
                 num_splits: int = 3,
                 lr: float = 5e-4,
                 weight_decay: float = 5e-4,
                 end_lr: float = 1e-7,
                 batch_fraction: float = 0.75,
                 gaussian_noise: float = 0.035,
                 dropout: float = 0.05) -> None:
        if isinstance(n_iters, bool) or not isinstance(n_iters, int) \
                or n_iters < 0:
            raise ConfigError(
                f'LFALoop: n_iters must be an int >= 0, not {n_iters!r}.')
        if beta is not None and not 0.0 <= beta <= 1.0:
            raise ConfigError(
                f'LFALoop: beta must be in [0, 1] or None (searched), not '
                f'{beta!r}.')
        if not 0.0 < batch_fraction <= 1.0:
            raise ConfigError('LFALoop: batch_fraction must be in (0, 1], '
                              f'not {batch_fraction!r}.')
        super().__init__(runner, dataloader)
        self.n_iters = n_iters
        self.beta = beta
        self.num_betas = num_betas
        self.num_splits = num_splits
        self.refine_args = dict(
            n_iters=n_iters,
            lr=lr,
            weight_decay=weight_decay,
            end_lr=end_lr,
            batch_fraction=batch_fraction,
            gaussian_noise=gaussian_noise,
            dropout=dropout)

    def fit(self, head, feats: torch.Tensor,
            labels: torch.Tensor) -> Tuple[torch.Tensor, dict]:
        """``W`` from features ``(N, D)`` and labels; and a log dict."""
        text = head.text_features().float().cpu()
        if feats.shape[1] != text.shape[1]:
            raise DataError(
                f'LFALoop: the image features are {feats.shape[1]}-d but the '
                f'class text features {text.shape[1]}-d; LFA aligns features '
                'of one width (use a CLIP whose towers share the embedding).')
        image = F.normalize(feats.float().cpu(), dim=-1)
        generator = torch.Generator().manual_seed(int(self.runner.seed or 0))
        log = dict(zero_shot_train_top1=top1(image, text, labels))
        from mmprompt.models.heads.lfa_head import procrustes
        if self.beta is None:
            beta, log['beta_search'] = search_beta(image, text, labels,
                                                   generator, self.num_betas,
                                                   self.num_splits)
        else:
            beta = float(self.beta)
        w = procrustes(image, text[labels], beta)
        log.update(
            beta=beta, procrustes_train_top1=top1(image, text, labels, w))
        w, losses = refine(w, image, text, labels, head.loss_module, generator,
                           **self.refine_args)
        log.update(
            refined_train_top1=top1(image, text, labels, w), losses=losses)
        return w, log

    def run(self):
        runner = self.runner
        runner.call_hook('before_train')
        runner.call_hook('before_train_epoch')
        model = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        head = model.head
        if not callable(getattr(head, 'set_alignment', None)):
            raise ConfigError(
                f'LFALoop fits an LFAHead; the model\'s head is a '
                f"{type(head).__name__} (use head=dict(type='LFAHead', ...)).")
        feats, labels = dataset_features(model, self.dataloader,
                                         'LFA training features')
        feats = feats.float()
        w, log = self.fit(head, feats, labels)
        print_log(
            f'LFALoop: {len(labels)} training features, beta={log["beta"]:.3f}'
            f', train top-1 zero-shot {log["zero_shot_train_top1"]:.2f} -> '
            f'Procrustes {log["procrustes_train_top1"]:.2f} -> refined '
            f'{log["refined_train_top1"]:.2f} ({self.n_iters} steps, loss '
            f'{_first_last(log["losses"])}).',
            logger='current')
        with open(osp.join(runner.log_dir, 'lfa.json'), 'w') as f:
            json.dump(log, f, indent=1)
        w = w.to(head.weight)
        broadcast(w, src=0)
        head.set_alignment(w)
        runner.call_hook('after_train_epoch')
        self._epoch, self._iter = 1, 1
        if runner.val_loop is not None:
            runner.val_loop.run()
        runner.call_hook('after_train')
        return runner.model


def _first_last(values: Sequence[float]) -> str:
    if not values:
        return 'none'
    return f'{values[0]:.4f} -> {values[-1]:.4f}'


__all__ = ['LFALoop', 'refine', 'search_beta', 'top1']
