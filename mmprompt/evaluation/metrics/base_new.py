# Copyright (c) mmprompt contributors. All rights reserved.
"""Base-to-new accuracy and the harmonic mean of base and new accuracy."""
import math
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric

from mmprompt.errors import ConfigError, DataError
from mmprompt.registry import METRICS

_SUBSAMPLES = ('all', 'base', 'new')
_BASE_KEY = 'base/top1'
_NEW_KEY = 'new/top1'
_HM_KEY = 'hm'


def _to_tensor(
        value: Union[torch.Tensor, np.ndarray, Sequence]) -> torch.Tensor:
    """Convert an array-like to a :obj:`torch.Tensor` (without copying a
    tensor)."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    return torch.as_tensor(value)


def _top1_among(pred_scores: torch.Tensor, gt_labels: torch.Tensor,
                columns: torch.Tensor) -> float:
    """Top-1 accuracy in percent with the argmax restricted to ``columns``.

    Args:
        pred_scores (torch.Tensor): Scores of shape (N, C).
        gt_labels (torch.Tensor): Labels of shape (N, ), each in ``columns``.
        columns (torch.Tensor): The candidate labels, ascending, shape (K, ).

    Returns:
        float: ``100 * mean(columns[argmax(pred_scores[:, columns], 1)] ==
        gt_labels)``; NaN when there are no samples.
    """
    if gt_labels.numel() == 0:
        return float('nan')
    pred = columns[pred_scores[:, columns].argmax(dim=1)]
    return pred.eq(gt_labels).sum().item() * 100. / gt_labels.numel()


def _name_labels(labels: Sequence[int], classes: Optional[Sequence]) -> str:
    """``"2 ('c'), 5 ('f')"``: labels with their class names if known."""
    return ', '.join(f'{label} ({classes[label]!r})' if classes is not None
                     and 0 <= label < len(classes) else str(label)
                     for label in labels)


def base_new_labels(dataset_meta: Mapping) -> Tuple[List[int], List[int]]:
    """The base and new labels a dataset's metainfo describes.

    CoOp datasets put ``base_labels`` / ``new_labels`` (and the class names
    ``base_classes`` / ``new_classes``) in their metainfo for
    ``subsample='all'``, where ``classes`` lists every class by label. With
    the labels present they are used (and checked against the names);
    otherwise each name of ``base_classes`` / ``new_classes`` is looked up
    in ``classes`` (without ``new_classes`` every other class is new).

    Args:
        dataset_meta (Mapping): The metainfo, with ``classes`` and
            ``base_labels`` or ``base_classes``.

    Returns:
        tuple[list[int], list[int]]: Base and new labels, ascending; every
        label of ``classes`` is in exactly one of them.

    Raises:
        DataError: If a class is neither base nor new or both, a base/new
            label is outside ``classes``, labels and names disagree, or two
            labels share a class name that membership must be found by.

    Examples:
        >>> base_new_labels(dict(classes=('a', 'b', 'c', 'd'),
        ...                      base_classes=('a', 'c'),
        ...                      new_classes=('b', 'd')))
        ([0, 2], [1, 3])
    """
    prefix = 'BaseNewAccuracy: '
    classes = dataset_meta.get('classes')
    classes = None if classes is None else tuple(classes)
    if 'base_labels' in dataset_meta:
        base = sorted(int(label) for label in dataset_meta['base_labels'])
        new = sorted(
            int(label) for label in dataset_meta.get('new_labels', ()))
        if classes is not None:
            num = len(classes)
        else:
            num = max(base + new, default=-1) + 1
        if 'new_labels' not in dataset_meta:
            new = sorted(set(range(num)) - set(base))
        outside = sorted({y for y in base + new if not 0 <= y < num})
        if outside:
            raise DataError(
                f'{prefix}base/new label(s) {outside} of the dataset_meta '
                f"are not labels of dataset_meta['classes'] (0..{num - 1}).")
        for group, labels in (('base', base), ('new', new)):
            key = f'{group}_classes'
            if classes is not None and key in dataset_meta and sorted(
                    classes[y] for y in labels) != sorted(dataset_meta[key]):
                raise DataError(
                    f"{prefix}dataset_meta['{group}_labels'] "
                    f"({_name_labels(labels, classes)}) and "
                    f"dataset_meta['{key}'] {tuple(dataset_meta[key])} "
                    'describe different classes; fix the dataset metainfo.')
    else:
        if 'base_classes' not in dataset_meta:
            raise DataError(
                f"{prefix}dataset_meta has neither 'base_labels' nor "
                "'base_classes' (its keys: "
                f'{sorted(dataset_meta)}); evaluate on a CoOp dataset, or '
                'set `num_base_classes` in the metric config.')
        if classes is None:
            raise DataError(
                f"{prefix}dataset_meta has 'base_classes' but no 'classes', "
                'so the base classes cannot be placed among the labels; '
                'evaluate on a CoOp dataset (its metainfo has both), or set '
                '`num_base_classes` in the metric config.')
        num = len(classes)
        labels_of: Dict[str, List[int]] = {}
        for label, name in enumerate(classes):
            labels_of.setdefault(name, []).append(label)
        groups = {}
        for group in ('base', 'new'):
            key = f'{group}_classes'
            if key not in dataset_meta:
                continue
            groups[group] = []
            for name in dataset_meta[key]:
                labels = labels_of.get(name)
                if not labels:
                    raise DataError(
                        f"{prefix}{group} class {name!r} is not in "
                        "dataset_meta['classes']; the dataset metainfo "
                        'describes another class list.')
                if len(labels) > 1:
                    raise DataError(
                        f'{prefix}labels {_name_labels(labels, classes)} '
                        f'share one class name, so whether they are base or '
                        'new cannot be told by name. Give each class its own '
                        "name, or put 'base_labels' and 'new_labels' in the "
                        'dataset metainfo.')
                groups[group].extend(labels)
        base = sorted(groups['base'])
        if 'new' in groups:
            new = sorted(groups['new'])
        else:
            new = sorted(set(range(num)) - set(base))
    both = sorted(set(base) & set(new))
    if both:
        raise DataError(
            f'{prefix}label(s) {_name_labels(both, classes)} are both base '
            'and new in the dataset_meta; fix the dataset metainfo.')
    neither = sorted(set(range(num)) - set(base) - set(new))
    if neither:
        raise DataError(
            f'{prefix}label(s) {_name_labels(neither, classes)} of '
            "dataset_meta['classes'] are neither base nor new classes (a "
            'class without training images?). Every class needs training '
            'images; fix the split file or the dataset metainfo.')
    return base, new


def _top1(pred_scores: torch.Tensor, gt_labels: torch.Tensor) -> float:
    """Top-1 accuracy in percent; NaN when there are no samples.

    Args:
        pred_scores (torch.Tensor): Scores of shape (N, C).
        gt_labels (torch.Tensor): Labels in [0, C) of shape (N, ).

    Returns:
        float: ``100 * mean(argmax(pred_scores, 1) == gt_labels)``.
    """
    if gt_labels.numel() == 0:
        return float('nan')
    correct = pred_scores.argmax(dim=1).eq(gt_labels).sum().item()
    return correct * 100. / gt_labels.numel()


def harmonic_mean(base: float, new: float) -> float:
    """Harmonic mean ``2BN / (B + N)`` of base and new accuracy.

    Args:
        base (float): Base-class accuracy B.
        new (float): New-class accuracy N.

    Returns:
        float: The harmonic mean H; 0 when both accuracies are 0, NaN when
        either is NaN.

    Examples:
        >>> harmonic_mean(80., 60.)
        68.57142857142857
        >>> harmonic_mean(0., 0.)
        0.0
    """
    base, new = float(base), float(new)
    if math.isnan(base) or math.isnan(new):
        return float('nan')
    if base + new == 0:
        return 0.
    return 2. * base * new / (base + new)


def average_base_new(results: Sequence[Mapping[str, float]],
                     base_key: str = _BASE_KEY,
                     new_key: str = _NEW_KEY) -> Dict[str, float]:
    """Aggregate base-to-new results of several seeds as the literature does.

    CoCoOp, MaPLe and their successors report the mean base accuracy, the
    mean new accuracy and the harmonic mean *of these two means* (not the
    mean of the per-seed harmonic means, which is never larger).

    Args:
        results (Sequence[Mapping[str, float]]): One metrics dict per seed,
            e.g. what :class:`BaseNewAccuracy` returns. Other keys (such as
            the per-seed ``'hm'``) are ignored.
        base_key (str): Key of the base accuracy in each dict.
            Defaults to ``'base/top1'``.
        new_key (str): Key of the new accuracy in each dict.
            Defaults to ``'new/top1'``.

    Returns:
        Dict[str, float]: ``{'base/top1': mean B, 'new/top1': mean N,
        'hm': harmonic_mean(mean B, mean N)}`` (keys ``base_key`` and
        ``new_key`` as given).

    Examples:
        >>> average_base_new([{'base/top1': 80., 'new/top1': 60.},
        ...                   {'base/top1': 70., 'new/top1': 70.}])
        {'base/top1': 75.0, 'new/top1': 65.0, 'hm': 69.64285714285714}
    """
    if len(results) == 0:
        raise ValueError('average_base_new needs the results of at least '
                         'one seed, but got an empty sequence.')
    for i, result in enumerate(results):
        missing = [k for k in (base_key, new_key) if k not in result]
        if missing:
            raise KeyError(f'Result {i} has no {missing} (its keys: '
                           f'{sorted(result)}); every seed needs both '
                           f'{base_key!r} and {new_key!r}.')
    base = sum(float(r[base_key]) for r in results) / len(results)
    new = sum(float(r[new_key]) for r in results) / len(results)
    return {base_key: base, new_key: new, _HM_KEY: harmonic_mean(base, new)}


@METRICS.register_module()
class BaseNewAccuracy(BaseMetric):
    """Accuracy of the base-to-new generalisation protocol.

    The protocol of CoCoOp (Zhou et al., "Conditional Prompt Learning for
    Vision-Language Models", CVPR 2022) splits the classes of a dataset into
    the first ``m = ceil(n / 2)`` labels (*base*, seen in training) and the
    rest (*new*), and reports

    - ``base/top1`` (B): accuracy on the test images of base classes, the
      prediction being the argmax over the **base classes' scores only**;
    - ``new/top1`` (N): accuracy on the test images of new classes, the
      argmax over the **new classes' scores only**;
    - ``hm`` (H): the harmonic mean ``2BN / (B + N)`` (0 when both are 0).

    All values are percentages, like mmpretrain's ``Accuracy``.

    One test pass over a dataset of all ``n`` classes (``subsample='all'``,
    scores of shape (n, ); in CoOp's protocol labels ``0..m-1`` are base and
    ``m..n-1`` new) yields all three numbers. On a dataset holding one group
    only (``subsample='base'`` or ``'new'``, labels relabelled from 0, scores
    over that group's classes) only that group's key is reported, as top-1
    over all its scores.

    Which labels are base and which new is read from the dataset's
    metainfo, never inferred from a count: ``dataset_meta['base_labels']``
    / ``['new_labels']`` of a CoOp dataset, or else the names
    ``base_classes`` / ``new_classes`` looked up in ``classes`` (see
    :func:`base_new_labels`). The evaluator sets ``dataset_meta`` from the
    dataset's ``metainfo``, which is why this metric needs a CoOp dataset
    (or ``num_base_classes``). A class that is neither base nor new (one
    without training images), or two labels with one name that membership
    must be found by, is a :class:`~mmprompt.errors.DataError` naming the
    labels. A group without test images gets NaN (and so does ``hm``).

    The keys are not prefixed by default (``default_prefix`` is ``''``: with
    ``None`` :class:`~mmengine.evaluator.BaseMetric` warns at build time);
    pass ``prefix`` to get e.g. ``'test/base/top1'``.

    Args:
        num_base_classes (int, optional): The number of base classes ``m``:
            labels ``0..m-1`` are base, the rest new. If given, it overrides
            the dataset's metainfo (and a dataset without ``subsample`` in
            its metainfo is treated as ``'all'``). Defaults to None.
        collect_device (str): Device used to collect results across ranks,
            ``'cpu'`` or ``'gpu'``. Defaults to ``'cpu'``.
        prefix (str, optional): Prefix of the metric names. Defaults to None
            (no prefix).

    Examples:
        >>> import torch
        >>> from mmengine.evaluator import Evaluator
        >>> from mmpretrain.structures import DataSample
        >>> evaluator = Evaluator(BaseNewAccuracy())
        >>> evaluator.dataset_meta = dict(
        ...     classes=('a', 'b', 'c', 'd'), base_classes=('a', 'b'),
        ...     new_classes=('c', 'd'), subsample='all')
        >>> samples = [
        ...     DataSample().set_pred_score(torch.tensor(s)).set_gt_label(l)
        ...     for s, l in [([.1, .5, .4, 0.], 1), ([.1, .0, .3, .6], 2)]]
        >>> evaluator.process(samples)
        >>> evaluator.evaluate(2)
        {'base/top1': 100.0, 'new/top1': 0.0, 'hm': 0.0}
    """
    default_prefix: Optional[str] = ''

    def __init__(self,
                 num_base_classes: Optional[int] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if num_base_classes is not None and (
                not isinstance(num_base_classes, int) or num_base_classes < 1):
            raise ConfigError('`num_base_classes` must be a positive int or '
                              f'None, but got {num_base_classes!r}.')
        self.num_base_classes = num_base_classes

    @property
    def dataset_meta(self) -> Optional[dict]:
        """Optional[dict]: Meta info of the dataset; setting it checks that
        it describes a base/new split, so a wrong dataset fails before the
        test pass rather than after it."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: Optional[dict]) -> None:
        self._dataset_meta = dataset_meta
        self._resolve_split()

    def _resolve_split(self) -> Tuple[str, Optional[List[int]]]:
        """Find the subsample mode and the base labels.

        Returns:
            Tuple[str, Optional[List[int]]]: ``subsample`` (``'all'``,
            ``'base'`` or ``'new'``) and the base labels (None unless
            ``subsample`` is ``'all'``).
        """
        meta = self._dataset_meta or {}
        subsample = meta.get('subsample', 'all')
        if subsample not in _SUBSAMPLES:
            raise DataError(f"BaseNewAccuracy got dataset_meta['subsample'] "
                            f'= {subsample!r}; expected one of '
                            f'{_SUBSAMPLES}.')
        if subsample != 'all':
            return subsample, None
        if self.num_base_classes is not None:
            return subsample, list(range(self.num_base_classes))
        if 'base_classes' not in meta and 'base_labels' not in meta:
            have = 'no dataset_meta' if self._dataset_meta is None else (
                f'dataset_meta keys {sorted(meta)}')
            raise ValueError(
                'BaseNewAccuracy needs a dataset with `base_classes` in its '
                'metainfo (a CoOp dataset) to split base from new classes, '
                f'but got {have}. Evaluate on a CoOp dataset, or set '
                '`num_base_classes` in the metric config.')
        return subsample, base_new_labels(meta)[0]

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Store the scores and labels of one batch (as CPU tensors).

        Args:
            data_batch: A batch of data from the dataloader (unused).
            data_samples (Sequence[dict]): The model's outputs, each with
                ``pred_score`` (shape (C, )) and ``gt_label``.
        """
        for data_sample in data_samples:
            self.results.append(
                dict(
                    pred_score=data_sample['pred_score'].detach().cpu(),
                    gt_label=data_sample['gt_label'].detach().cpu().view(-1)))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Compute the metrics from the processed results.

        Args:
            results (List[dict]): The processed results of all samples.

        Returns:
            Dict[str, float]: ``base/top1``, ``new/top1`` and ``hm`` for
            ``subsample='all'``; only ``base/top1`` or ``new/top1`` for
            ``'base'`` / ``'new'``.
        """
        subsample, base_labels = self._resolve_split()
        pred_scores = torch.stack([r['pred_score'] for r in results])
        gt_labels = torch.cat([r['gt_label'] for r in results])
        if gt_labels.numel() != pred_scores.size(0):
            raise ValueError('BaseNewAccuracy expects one `gt_label` per '
                             f'sample, but got {gt_labels.numel()} labels for '
                             f'{pred_scores.size(0)} samples.')
        if subsample == 'base':
            return {_BASE_KEY: _top1(pred_scores.float(), gt_labels.long())}
        if subsample == 'new':
            return {_NEW_KEY: _top1(pred_scores.float(), gt_labels.long())}
        return self.calculate(pred_scores, gt_labels, base_labels=base_labels)

    @staticmethod
    def calculate(
            pred_scores: Union[torch.Tensor, np.ndarray, Sequence],
            gt_labels: Union[torch.Tensor, np.ndarray, Sequence],
            num_base: Optional[int] = None,
            base_labels: Optional[Sequence[int]] = None) -> Dict[str, float]:
        """Base accuracy, new accuracy and their harmonic mean.

        Args:
            pred_scores (torch.Tensor | np.ndarray | Sequence): Scores over
                all classes, shape (N, n).
            gt_labels (torch.Tensor | np.ndarray | Sequence): Labels in
                ``[0, n)``, shape (N, ).
            num_base (int, optional): The number of base classes ``m``
                (``0 < m < n``): labels and columns ``0..m-1`` are base.
                Defaults to None.
            base_labels (Sequence[int], optional): The base labels, instead
                of ``num_base``; every other label is new. Give exactly one
                of the two. Defaults to None.

        Returns:
            Dict[str, float]: ``base/top1`` (base images, argmax over the
            base columns), ``new/top1`` (new images, argmax over the new
            columns) and ``hm``, in percent. A group with no images is NaN.

        Examples:
            >>> import torch
            >>> scores = torch.tensor([
            ...     [0.1, 0.3, 0.6],  # base image 1: argmax over base -> 1
            ...     [0.5, 0.2, 0.3],  # base image 0: correct
            ...     [0.9, 0.0, 0.1],  # new image 2: only column 2 is new
            ... ])
            >>> BaseNewAccuracy.calculate(scores, [1, 1, 2], num_base=2)
            {'base/top1': 50.0, 'new/top1': 100.0, 'hm': 66.66666666666667}
        """
        pred_scores = _to_tensor(pred_scores).float()
        gt_labels = _to_tensor(gt_labels).long().view(-1)
        if pred_scores.ndim != 2:
            raise ValueError('`pred_scores` must have shape (N, n), but got '
                             f'{tuple(pred_scores.shape)}.')
        if pred_scores.size(0) != gt_labels.numel():
            raise ValueError(f'The number of scores ({pred_scores.size(0)}) '
                             'does not match the number of labels '
                             f'({gt_labels.numel()}).')
        num_classes = pred_scores.size(1)
        if (num_base is None) == (base_labels is None):
            raise ValueError('Give exactly one of `num_base` and '
                             f'`base_labels`, but got num_base={num_base!r} '
                             f'and base_labels={base_labels!r}.')
        if num_base is not None:
            if not 0 < num_base < num_classes:
                raise ValueError(f'`num_base` ({num_base}) must be in (0, '
                                 f'{num_classes}): the scores cover '
                                 f'{num_classes} classes, base and new. Is '
                                 "the dataset's `subsample` really 'all'?")
            base_labels = range(num_base)
        base_set = sorted({int(label) for label in base_labels})
        outside = [y for y in base_set if not 0 <= y < num_classes]
        if outside or not 0 < len(base_set) < num_classes:
            raise ValueError(
                f'The base labels {base_set} must be some but not all of '
                f'the {num_classes} score columns 0..{num_classes - 1}: the '
                "scores cover base and new classes. Is the dataset's "
                "`subsample` really 'all'?")
        bad = gt_labels[(gt_labels < 0) | (gt_labels >= num_classes)]
        if bad.numel():
            raise ValueError(
                f'Labels {sorted(set(bad.tolist()))[:10]} are outside the '
                f'{num_classes} score columns 0..{num_classes - 1}.')
        is_base_class = torch.zeros(num_classes, dtype=torch.bool)
        is_base_class[base_set] = True
        base_columns = is_base_class.nonzero().view(-1)
        new_columns = (~is_base_class).nonzero().view(-1)
        is_base = is_base_class[gt_labels]
        base = _top1_among(pred_scores[is_base], gt_labels[is_base],
                           base_columns)
        new = _top1_among(pred_scores[~is_base], gt_labels[~is_base],
                          new_columns)
        return {
            _BASE_KEY: base,
            _NEW_KEY: new,
            _HM_KEY: harmonic_mean(base, new)
        }
