# Copyright (c) mmprompt contributors. All rights reserved.
"""Linear-probe CLIP: logistic regression on frozen image features.

The baseline of CLIP (Radford et al., 2021, appendix A.3) in the few-shot
protocol of CoOp (``lpclip/`` of the CoOp repository): features of the
frozen image encoder (test transform, not normalised), scikit-learn's
L-BFGS logistic regression with an L2 penalty, and the inverse
regularisation strength ``C`` searched on the validation split: first over
``1e6, 1e4, ..., 1e-6``, then ``search_steps`` rounds of a bisection in
log-space around the best grid value, keeping the last round's choice.
:class:`LinearProbeLoop` runs it as an mmengine train loop, so the baseline
is a plain config (``configs/linear_probe/``) trained by ``tools/train.py``
and tested by ``tools/test.py`` like every other method.

scikit-learn is an optional dependency (``pip install 'mmprompt[optional]'``);
the loop checks for it when it is built, before any feature is extracted.
"""
import importlib.util
import json
import os.path as osp
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import broadcast, get_rank
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper

from mmprompt.engine.one_epoch_loop import OneEpochLoop
from mmprompt.errors import ConfigError
from mmprompt.registry import LOOPS

#: CoOp's initial grid of ``C``.
C_GRID = (1e6, 1e4, 1e2, 1., 1e-2, 1e-4, 1e-6)


def _fit(features, labels, C, max_iter):
    from sklearn.linear_model import LogisticRegression
    return LogisticRegression(
        solver='lbfgs', C=C, max_iter=max_iter).fit(features, labels)


def _accuracy(clf, features, labels) -> float:
    return float(np.mean(clf.predict(features) == labels))


def search_logistic_regression(train: Tuple[np.ndarray, np.ndarray],
                               val: Tuple[np.ndarray, np.ndarray],
                               grid: Sequence[float] = C_GRID,
                               search_steps: int = 8,
                               max_iter: int = 1000):
    """CoOp's search of ``C`` on the validation split.

    The best grid value ``c`` (the first, i.e. largest, on ties) opens the
    interval ``[c / 10, c * 10]``; each round fits both ends, keeps the
    better one (the left end on ties) and halves the interval in log10
    towards it. The classifier of the last round is returned.

    Args:
        train (tuple): ``(features (N, D), labels (N, ))``.
        val (tuple): Validation ``(features, labels)``.
        grid (Sequence[float]): Initial ``C`` values.
        search_steps (int): Bisection rounds (0: the best grid value).
        max_iter (int): L-BFGS iterations.

    Returns:
        tuple: ``(classifier, C, val_accuracy, history)`` with ``history``
        the list of ``(C, val_accuracy)`` of every fit, in order.
    """
    history = []

    def fit(C):
        clf = _fit(*train, C, max_iter)
        acc = _accuracy(clf, *val)
        history.append((float(C), acc))
        return clf, acc

    fits = [fit(C) for C in grid]
    best = int(np.argmax([acc for _, acc in fits]))
    clf, acc = fits[best]
    C = float(grid[best])
    left, right = C / 10, C * 10
    for _ in range(search_steps):
        clf_left, acc_left = fit(left)
        clf_right, acc_right = fit(right)
        middle = 0.5 * (np.log10(left) + np.log10(right))
        if acc_left < acc_right:
            clf, acc, C = clf_right, acc_right, right
            left = 10**middle
        else:
            clf, acc, C = clf_left, acc_left, left
            right = 10**middle
    return clf, C, acc, history


def classifier_weights(clf, num_classes: int,
                       dim: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """A fitted scikit-learn classifier as ``(weight (C, D), bias (C, ))``
    of a linear layer whose argmax is the classifier's prediction."""
    classes = [int(c) for c in clf.classes_]
    if classes != list(range(num_classes)):
        raise ConfigError(
            f'The linear probe was fitted on labels {classes[:10]}'
            f'{"..." if len(classes) > 10 else ""} but the head has '
            f'num_classes={num_classes}; every class needs training images '
            'and model.head.num_classes must equal the number of classes.')
    coef = torch.as_tensor(clf.coef_, dtype=torch.float32)
    intercept = torch.as_tensor(clf.intercept_, dtype=torch.float32)
    if num_classes == 2:  # one logit: p(class 1) = sigmoid(w x + b)
        coef = torch.cat([torch.zeros(1, dim), coef])
        intercept = torch.cat([torch.zeros(1), intercept])
    return coef, intercept


@torch.no_grad()
def extract_features(model, dataloader) -> Tuple[np.ndarray, np.ndarray]:
    """Features (``head.pre_logits`` of the frozen backbone) and labels of a
    whole dataset, in dataset order, gathered from every rank.

    The features come from the feature store
    (:func:`~mmprompt.engine.feature_store.stored_features`): every rank
    encodes its own batches of ``dataloader`` once, and later runs with the
    same encoder, images, pipeline and batches read them.

    Args:
        model (ImageClassifier): The model (not wrapped).
        dataloader (DataLoader): Any sampler that visits every sample.

    Returns:
        tuple: ``(features (N, D) float32, labels (N, ) int64)``, on every
        rank.

    Raises:
        DataError: The sampler does not visit every sample.
    """
    from mmprompt.engine.feature_store import dataset_features
    feats, labels = dataset_features(model, dataloader,
                                     'linear-probe features')
    device = next(model.head.parameters()).device
    feats = model.head.pre_logits((feats.to(device), )).float().cpu()
    return feats.numpy(), labels.numpy()


@LOOPS.register_module()
class LinearProbeLoop(OneEpochLoop):
    """Fit a linear head on frozen features in closed form (one "epoch").

    Use with an ``ImageClassifier`` whose backbone is frozen (e.g.
    ``OpenCLIPImageEncoder``) and an mmpretrain ``LinearClsHead``. ``run``
    extracts the training features (the train dataloader's pipeline: use
    the test transform, as CoOp does), fits the logistic regression on rank
    0 (``C`` searched on the ``val_dataloader`` by
    :func:`search_logistic_regression`, unless ``C`` is fixed), broadcasts
    the weights into ``head.fc`` on every rank, and calls the train hooks
    around it as one epoch of one iteration, so ``CheckpointHook`` saves
    ``epoch_1.pth`` (kilobytes: the frozen encoder is not saved) and the val
    loop, if any, reports the result. The search history is written to
    ``<log_dir>/linear_probe.json``.

    Args:
        runner (Runner): The runner.
        dataloader (DataLoader | dict): The training data.
        C (float, optional): Fixed inverse regularisation strength; None
            searches it on the validation split. Defaults to None.
        grid (Sequence[float]): Initial grid of ``C``. Defaults to
            :data:`C_GRID`.
        search_steps (int): Bisection rounds. Defaults to 8.
        max_iter (int): L-BFGS iterations. Defaults to 1000.
    """

    def __init__(self,
                 runner,
                 dataloader,
                 C: Optional[float] = None,
                 grid: Sequence[float] = C_GRID,
                 search_steps: int = 8,
                 max_iter: int = 1000) -> None:
        if importlib.util.find_spec('sklearn') is None:
            raise ConfigError(
                'LinearProbeLoop fits scikit-learn\'s LogisticRegression, '
                'but scikit-learn is not installed. Install it with '
                "pip install 'mmprompt[optional]' (or pip install "
                'scikit-learn).')
        super().__init__(runner, dataloader)
        self.C = C
        self.grid = tuple(grid)
        self.search_steps = search_steps
        self.max_iter = max_iter

    def _model(self):
        model = self.runner.model
        return model.module if is_model_wrapper(model) else model

    def _fit_head(self, model) -> Tuple[torch.Tensor, torch.Tensor]:
        """Features, fit and the head weights (rank 0; None elsewhere)."""
        runner = self.runner
        train = extract_features(model, self.dataloader)
        val = None
        if self.C is None:
            if runner.val_loop is None:
                raise ConfigError(
                    'LinearProbeLoop searches C on the validation split but '
                    'the config has no val_dataloader / val_cfg; add them or '
                    'fix C in train_cfg (e.g. '
                    "train_cfg=dict(type='LinearProbeLoop', C=0.316)).")
            val = extract_features(model, runner.val_loop.dataloader)
        if get_rank() != 0:
            return None
        fc = model.head.fc
        if train[0].shape[1] != fc.in_features:
            raise ConfigError(
                f'The backbone gives {train[0].shape[1]}-d features but the '
                f'head expects in_channels={fc.in_features}; set '
                f'model.head.in_channels={train[0].shape[1]}.')
        if self.C is None:
            clf, C, acc, history = search_logistic_regression(
                train, val, self.grid, self.search_steps, self.max_iter)
            message = (f'C={C:.4g} (searched on {len(val[1])} validation '
                       f'images: top-1 {100 * acc:.2f})')
        else:
            clf, C, history = _fit(*train, self.C, self.max_iter), \
                self.C, []
            message = f'C={C:.4g} (fixed)'
        print_log(
            f'LinearProbeLoop: logistic regression on {len(train[1])} '
            f'features of dim {train[0].shape[1]}, {message}.',
            logger='current')
        with open(osp.join(runner.log_dir, 'linear_probe.json'), 'w') as f:
            json.dump(
                dict(C=C, search=[dict(C=c, val_top1=a) for c, a in history]),
                f,
                indent=1)
        return classifier_weights(clf, model.head.num_classes,
                                  train[0].shape[1])

    def run(self):
        runner = self.runner
        runner.call_hook('before_train')
        runner.call_hook('before_train_epoch')
        model = self._model()
        fc = getattr(model.head, 'fc', None)
        if not isinstance(fc, torch.nn.Linear):
            raise TypeError(
                'LinearProbeLoop fits a linear head; the model\'s head '
                f'{type(model.head).__name__} has no `fc` linear layer (use '
                "head=dict(type='LinearClsHead', ...)).")
        fitted = self._fit_head(model)
        weight = torch.empty_like(fc.weight)
        bias = torch.empty_like(fc.bias)
        if fitted is not None:
            weight.copy_(fitted[0])
            bias.copy_(fitted[1])
        broadcast(weight, src=0)
        broadcast(bias, src=0)
        with torch.no_grad():
            fc.weight.copy_(weight)
            fc.bias.copy_(bias)
        runner.call_hook('after_train_epoch')
        self._epoch, self._iter = 1, 1
        if runner.val_loop is not None:
            runner.val_loop.run()
        runner.call_hook('after_train')
        return runner.model
