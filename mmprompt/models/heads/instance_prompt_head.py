# Copyright (c) mmprompt contributors. All rights reserved.
"""Instance-wise prompt learning: the training draw and top-k inference."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmpretrain.evaluation import Accuracy
from mmpretrain.structures import DataSample

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from .prompt_cls_head import PromptClsHead

PAIR_REDUCES = ('mean', 'max', 'mean_sim', 'prompt')


def class_members(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The instances of every class, ``(num_classes, n_max)``.

    Row ``c`` lists the indices ``i`` with ``labels[i] == c`` in increasing
    order, padded at the end with ``-1``.
    """
    labels = labels.cpu()
    counts = torch.bincount(labels, minlength=num_classes)
    members = torch.full((num_classes, int(counts.max())),
                         -1,
                         dtype=torch.long)
    order = torch.argsort(labels, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    slots = torch.arange(len(labels)) - starts[labels[order]]
    members[labels[order], slots] = order
    return members


def draw_instance_prompts(
        members: torch.Tensor,
        labels: torch.Tensor,
        own: torch.Tensor,
        per_class: int = 2,
        generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """The training draw: ``per_class`` instance prompts of every class.

    For image ``b`` and every class ``c``, ``per_class`` distinct instances
    of ``c`` are drawn uniformly at random, except that for the image's own
    class ``labels[b]`` its own instance ``own[b]`` is always one of them. A
    class with fewer instances gives all of them, the first repeated to
    fill the row.

    Args:
        members (torch.Tensor): ``(C, n_max)`` from :func:`class_members`.
        labels (torch.Tensor): ``(B, )`` labels of the images.
        own (torch.Tensor): ``(B, )`` instance index of every image.
        per_class (int): Prompts per class. Defaults to 2.
        generator (torch.Generator, optional): CPU generator; the global one
            (seeded by the runner) if None.

    Returns:
        torch.Tensor: ``(B, C, min(per_class, n_max))`` instance indices;
        ``[b, labels[b], 0] == own[b]``.
    """
    labels, own = labels.cpu(), own.cpu()
    num_images = len(labels)
    num_classes, n_max = members.shape
    own_slot = members[labels] == own[:, None]
    if not own_slot.any(dim=1).all():
        bad = int((~own_slot.any(dim=1)).nonzero()[0])
        raise ConfigError(
            f'Instance {int(own[bad])} is not an instance of class '
            f'{int(labels[bad])}: the batch does not match the bound '
            'training labels.')
    keys = torch.rand(num_images, num_classes, n_max, generator=generator)
    keys.masked_fill_(members.unsqueeze(0) < 0, float('inf'))
    rows = torch.arange(num_images)
    keys[rows, labels] = keys[rows, labels].masked_fill(own_slot, -1.)
    k = min(per_class, n_max)
    slots = keys.topk(k, dim=-1, largest=False).indices
    counts = (members >= 0).sum(dim=1)
    slots = torch.where(slots < counts[None, :, None], slots, slots[..., :1])
    return torch.gather(
        members.unsqueeze(0).expand(num_images, -1, -1), 2, slots)


def topk_class_logits(image: torch.Tensor, bank: torch.Tensor,
                      members: torch.Tensor, gram: torch.Tensor,
                      k: int) -> torch.Tensor:
    """Cosine of each image to the mean of its top-k prompts of each class.

    For image ``x`` and class ``c``: the ``k`` instance features of ``c``
    most similar to ``x`` (all of them if ``c`` has fewer) are averaged
    into one class feature ``t_c`` and the result is ``cos(x, t_c)``.
    Computed without forming ``t_c``: ``cos = sum_j s_j / ||sum_j f_j||``
    with ``||sum_j f_j||^2`` from the per-class Gram matrix.

    Args:
        image (torch.Tensor): ``(B, D)`` L2-normalised image features.
        bank (torch.Tensor): ``(N, D)`` L2-normalised instance features.
        members (torch.Tensor): ``(C, n_max)`` from :func:`class_members`.
        gram (torch.Tensor): ``(C, n_max, n_max)`` dot products of the
            members' features (zero at padding).
        k (int): Prompts per class.

    Returns:
        torch.Tensor: ``(B, C)`` cosine similarities.
    """
    members = members.to(image.device)
    sims = image @ bank.t()
    sims = sims[:, members.clamp(min=0)]  # (B, C, n_max)
    sims = sims.masked_fill(members < 0, float('-inf'))
    top, slots = sims.topk(min(k, members.shape[1]), dim=-1)
    valid = torch.isfinite(top).to(image.dtype)
    num = (top.nan_to_num(neginf=0.) * valid).sum(-1)
    num_images, num_classes, kk = slots.shape
    rows = torch.arange(num_classes, device=image.device)[None, :, None, None]
    pair = gram[rows, slots[..., :, None], slots[..., None, :]]
    norm2 = (pair * valid[..., :, None] * valid[..., None, :]).sum((-1, -2))
    return num / norm2.clamp(min=1e-12).sqrt()


@MODELS.register_module()
class InstancePromptHead(PromptClsHead):
    """The head of instance-wise prompt learning (``methods.md`` §2).

    Works with :class:`InstancePromptLearner` (one prompt per training
    image, instance ``i`` = training sample ``sample_idx == i``).

    **Training** (:meth:`loss`): for each image, :func:`draw_instance_prompts`
    draws ``prompts_per_class`` prompts of every class, the image's own
    prompt always among its class's; only the drawn prompts go through the
    text encoder. The seed only says that the cosine similarities between
    the image and the drawn prompts are computed and trained with a
    cross-entropy loss; it does not say over what. ``pair_reduce`` chooses:

    - class level (cross-entropy over the C classes, target = the image's
      class): the prompts of a class become one logit; ``'mean'`` (the
      default, ``methods.md``'s choice): cosine to the mean of their
      normalised text features; ``'max'``: the largest cosine;
      ``'mean_sim'``: the mean cosine.
    - prompt level, ``'prompt'``: cross-entropy over all ``C x k`` drawn
      prompts (``k = prompts_per_class``), target = the image's own prompt;
      the other prompt of its own class counts as a negative. A prompt
      drawn twice (a class with fewer than ``k`` instances) enters once.

    **Inference** (:meth:`forward` / :meth:`predict`): the text features of
    all instance prompts are computed once and cached (until a prompt,
    weight or the instance labels change, as :class:`PromptClsHead` caches
    class features); per test image and class the ``test_topk`` most similar
    prompts are averaged into one class feature
    (:func:`topk_class_logits`) and the logits are
    ``logit_scale * cos``.

    Args:
        prompts_per_class (int): Prompts drawn per class in training.
            Defaults to 2.
        pair_reduce (str): ``'mean'``, ``'max'``, ``'mean_sim'`` or
            ``'prompt'`` (see above). Defaults to 'mean'.
        test_topk (int): Prompts averaged per class at test time.
            Defaults to 4.
        **kwargs: :class:`PromptClsHead` arguments (``text_encoder``,
            ``prompt_learner``, ``loss``, ...).
    """

    def __init__(self,
                 prompts_per_class: int = 2,
                 pair_reduce: str = 'mean',
                 test_topk: int = 4,
                 **kwargs):
        super().__init__(**kwargs)
        if pair_reduce not in PAIR_REDUCES:
            raise ConfigError(
                f'InstancePromptHead: pair_reduce={pair_reduce!r}; choose '
                f'one of {PAIR_REDUCES} (model.head.pair_reduce).')
        for name, value in (('prompts_per_class', prompts_per_class),
                            ('test_topk', test_topk)):
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f'{name}={value!r} must be a positive int.')
        if not callable(
                getattr(self.prompt_learner, 'instance_features', None)):
            raise TypeError(
                'InstancePromptHead needs a prompt learner with instance '
                'prompts (InstancePromptLearner), got '
                f'{type(self.prompt_learner).__name__}.')
        self.prompts_per_class = prompts_per_class
        self.pair_reduce = pair_reduce
        self.test_topk = test_topk
        self._labels_of = self._labels = None  # see bind_training_set

    def set_instance_labels(self, labels: Sequence[int]) -> None:
        """Bind the label of every training sample."""
        self.prompt_learner.set_instance_labels(labels)

    def bind_training_set(self, dataloader) -> None:
        """Bind the label of every training image (``SetClassNamesHook``
        calls it before training), read once per training set.

        Args:
            dataloader (DataLoader): The training dataloader.

        Raises:
            TypeError: The training set cannot list its labels.
        """
        dataset = dataloader.dataset
        if self._labels_of is not dataset:
            get_labels = getattr(dataset, 'get_gt_labels', None)
            if not callable(get_labels):
                raise TypeError(
                    f'{type(self).__name__} learns one prompt per training '
                    'image and needs the label of each, but the training '
                    f'set {type(dataset).__name__} has no get_gt_labels(); '
                    'use an mmpretrain BaseDataset (e.g. a CoOp dataset).')
            self._labels = [int(x) for x in get_labels()]
            self._labels_of = dataset
        self.set_instance_labels(self._labels)

    def _members(self) -> torch.Tensor:
        learner = self.prompt_learner
        learner._check_instances_bound()
        return class_members(learner.instance_labels,
                             learner.num_train_classes)

    def instance_bank(self) -> Tuple[torch.Tensor, ...]:
        """Cached ``(features (N, D), members (C, n_max), gram)`` of all
        instance prompts (features L2-normalised)."""

        def compute():
            learner = self.prompt_learner
            feats = F.normalize(
                learner.instance_features(self.text_encoder,
                                          torch.arange(learner.num_instances)),
                dim=-1)
            members = self._members().to(feats.device)
            grouped = feats[members.clamp(
                min=0)] * (members >= 0).unsqueeze(-1).to(feats)
            return feats, members, grouped @ grouped.transpose(1, 2)

        return self._cached(compute)

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Test-time logits ``(B, num_classes)`` (top-k averaging)."""
        image = F.normalize(self.pre_logits(feats), dim=-1)
        bank, members, gram = self.instance_bank()
        cos = topk_class_logits(image, bank.to(image), members, gram.to(image),
                                self.test_topk)
        return self.logit_scale.to(image.device) * cos

    def train_logits(self, image: torch.Tensor, labels: torch.Tensor,
                     own: torch.Tensor) -> torch.Tensor:
        """Training logits of L2-normalised image features against the
        drawn prompts (:func:`draw_instance_prompts`).

        Args:
            image (torch.Tensor): ``(B, D)`` L2-normalised image features.
            labels (torch.Tensor): ``(B, )`` their labels.
            own (torch.Tensor): ``(B, )`` their instance indices.

        Returns:
            torch.Tensor: ``(B, C)`` class logits; with
            ``pair_reduce='prompt'`` ``(B, C * k)`` prompt logits instead,
            prompt ``j`` of class ``c`` in column ``c * k + j`` (the image's
            own prompt in column ``labels[b] * k``), a repeated draw at
            ``-inf``.
        """
        drawn = draw_instance_prompts(self._members(), labels, own,
                                      self.prompts_per_class)
        index, inverse = torch.unique(drawn, return_inverse=True)
        text = F.normalize(
            self.prompt_learner.instance_features(self.text_encoder, index),
            dim=-1).to(image.dtype)
        text = text[inverse.to(text.device)]  # (B, C, k, D)
        if self.pair_reduce == 'prompt':
            sims = torch.einsum('bd,bckd->bck', image, text)
            # a slot repeating an earlier one of its class (small classes)
            same = drawn[..., :, None] == drawn[..., None, :]
            repeat = torch.tril(same, diagonal=-1).any(-1).to(sims.device)
            sims = sims.masked_fill(repeat, float('-inf'))
            return self.logit_scale.to(image.device) * sims.flatten(1)
        if self.pair_reduce == 'mean':
            cos = torch.einsum('bd,bcd->bc', image,
                               F.normalize(text.mean(2), dim=-1))
        else:
            sims = torch.einsum('bd,bckd->bck', image, text)
            cos = sims.max(-1).values if self.pair_reduce == 'max' \
                else sims.mean(-1)
        return self.logit_scale.to(image.device) * cos

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """Cross-entropy over the drawn prompts (and, with ``cal_acc``, the
        training accuracy)."""
        missing = [
            i for i, s in enumerate(data_samples) if 'sample_idx' not in s
        ]
        if missing:
            raise KeyError(
                'InstancePromptHead needs the index of every training image '
                "(data_sample.sample_idx); keep 'sample_idx' in the "
                "meta_keys of the train pipeline's PackInputs.")
        image = F.normalize(self.pre_logits(feats), dim=-1)
        labels = torch.cat([s.gt_label for s in data_samples])
        own = torch.tensor([int(s.sample_idx) for s in data_samples])
        if own.min() < 0 or own.max() >= self.prompt_learner.num_instances:
            raise IndexError(
                f'sample_idx {own.max().item()} is outside the '
                f'{self.prompt_learner.num_instances} instance prompts; the '
                'train dataloader must iterate the training set the prompts '
                'were sized for (no dataset wrappers that renumber samples).')
        logits = self.train_logits(image, labels, own)
        if self.pair_reduce != 'prompt':
            return self._get_loss(logits, data_samples, **kwargs)
        # prompt level: the target is the image's own prompt, which the draw
        # puts first among its class's k
        k = logits.size(1) // self.prompt_learner.num_train_classes
        labels = labels.to(logits.device)
        losses = dict(
            loss=self.loss_module(
                logits, labels * k, avg_factor=logits.size(0), **kwargs))
        if self.cal_acc:  # class accuracy: the class of the best prompt
            class_logits = logits.unflatten(1, (-1, k)).max(-1).values
            acc = Accuracy.calculate(class_logits, labels, topk=self.topk)
            losses.update({
                f'accuracy_top-{top}': a
                for top, a in zip(self.topk, acc)
            })
        return losses
