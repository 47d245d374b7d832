# Copyright (c) mmprompt contributors. All rights reserved.
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from ..clip import OpenCLIPTextEncoder as TextEncoder
from .coop import CoOpPromptLearner


@MODELS.register_module()
class InstancePromptLearner(CoOpPromptLearner):
    """One prompt per training image: global context + instance context.

    Instance-wise prompt learning (Lee & Shim; ``methods.md`` §2). Training
    image ``i`` of class ``y_i`` owns the prompt
    ``[SOS] [G]_1 .. [G]_M [I_i]_1 .. [I_i]_R [CLASS y_i] . [EOS]``: the
    ``M`` global context vectors ``G`` are shared by every class and image
    (CoOp's context, same init options), the ``R`` instance vectors ``I_i``
    belong to image ``i`` alone. Instance ``i`` is the training sample with
    ``sample_idx == i`` (its index in the few-shot training set), so there
    are ``num_classes * num_shots`` instance prompts.

    Which class each instance belongs to is bound from the training set
    (:meth:`set_instance_labels`, which ``SetClassNamesHook`` reaches
    through ``InstancePromptHead.bind_training_set``) and kept
    as the persistent buffer ``instance_labels``, so a checkpoint is enough
    to test. The class names themselves are bound as for CoOp; instance
    prompts only classify the classes they were trained on.

    Args:
        text_encoder (OpenCLIPTextEncoder): The head's text encoder.
        num_classes (int): Training classes.
        num_shots (int): Training images per class (the few-shot ``K``).
        n_ctx (int, optional): Global context vectors ``M``; see
            :class:`CoOpPromptLearner`. Defaults to 16 (random init) as CoOp
            on few-shot ResNet-50.
        ctx_init (str | dict, optional): Global context init. Defaults to
            None (``N(0, init_std^2)``).
        n_instance_ctx (int): Instance context vectors ``R`` per image.
            Defaults to 4.
        init_std (float): Std of the random inits (global and instance).
            Defaults to 0.02.
        init_cfg (dict, optional): Unused. Defaults to None.

    Shapes:
        ``ctx``: ``(M, width)``; ``instance_ctx``: ``(N, R, width)`` with
        ``N = num_classes * num_shots``; ``instance_labels``: ``(N, )``,
        ``-1`` until bound.
    """

    def __init__(self,
                 text_encoder: TextEncoder,
                 num_classes: int,
                 num_shots: int,
                 n_ctx: Optional[int] = 16,
                 ctx_init: Union[str, dict, None] = None,
                 n_instance_ctx: int = 4,
                 init_std: float = 0.02,
                 init_cfg: Optional[dict] = None):
        for name, value in (('num_classes', num_classes),
                            ('num_shots', num_shots), ('n_instance_ctx',
                                                       n_instance_ctx)):
            if not isinstance(value, int) or value < 1:
                note = (' (the few-shot K of the training set; -1, all '
                        'images, is not supported: one prompt is sized per '
                        'training image)') if name == 'num_shots' else ''
                raise ConfigError(f'InstancePromptLearner: {name}={value!r} '
                                  f'must be a positive int{note}.')
        super().__init__(
            text_encoder,
            n_ctx=n_ctx,
            ctx_init=ctx_init,
            init_std=init_std,
            init_cfg=init_cfg)
        self.num_train_classes = num_classes
        self.num_shots = num_shots
        self.n_instance_ctx = n_instance_ctx
        num_instances = num_classes * num_shots
        self.instance_ctx = nn.Parameter(
            torch.randn(
                num_instances,
                n_instance_ctx,
                text_encoder.width,
                device=text_encoder.device) * init_std)
        self.register_buffer(
            'instance_labels',
            torch.full((num_instances, ),
                       -1,
                       dtype=torch.long,
                       device=text_encoder.device))

    @property
    def num_instances(self) -> int:
        return self.instance_ctx.shape[0]

    def set_instance_labels(self, labels: Sequence[int]) -> None:
        """Bind the class of every training sample (index = sample_idx).

        Args:
            labels (Sequence[int]): ``labels[i]`` is the ground-truth label
                of training sample ``i``.
        """
        labels = torch.as_tensor(list(labels), dtype=torch.long)
        if labels.numel() != self.num_instances:
            raise ConfigError(
                f'InstancePromptLearner has {self.num_instances} instance '
                f'prompts (num_classes={self.num_train_classes} x '
                f'num_shots={self.num_shots}) but the training set has '
                f'{labels.numel()} images. Set model.head.prompt_learner.'
                'num_classes / num_shots to the training set\'s classes and '
                'shots.')
        counts = torch.bincount(
            labels.clamp(min=0), minlength=self.num_train_classes)
        if labels.min() < 0 or labels.max() >= self.num_train_classes or \
                (counts == 0).any():
            raise ConfigError(
                f'InstancePromptLearner was built for '
                f'{self.num_train_classes} classes, but the training labels '
                f'are {labels.min().item()}..{labels.max().item()} with '
                f'{int((counts > 0).sum())} distinct classes; every class '
                'needs at least one training image. Set model.head.'
                'prompt_learner.num_classes to the training classes.')
        self.instance_labels.copy_(labels.to(self.instance_labels.device))

    def _check_instances_bound(self) -> None:
        if (self.instance_labels < 0).any():
            raise RuntimeError(
                'InstancePromptLearner: the instance prompts have no classes '
                'yet. Train with '
                "default_hooks.class_names=dict(type='SetClassNamesHook') "
                "(it binds the training set's labels) or load a trained "
                'checkpoint.')

    def set_class_names(self,
                        classnames: Sequence[str],
                        text_encoder: TextEncoder,
                        template: Optional[str] = None,
                        dataset_name: Optional[str] = None) -> None:
        if len(classnames) != self.num_train_classes:
            raise ConfigError(
                f'InstancePromptLearner holds prompts of '
                f'{self.num_train_classes} training classes but '
                f'{len(classnames)} class names were given; instance-wise '
                'prompts only classify the classes they were trained on '
                '(use the few-shot protocol: the same classes in train, val '
                'and test).')
        super().set_class_names(classnames, text_encoder, template)
        # The placeholders of the instance context follow the global ones.
        self.suffix = self.suffix[:, self.n_instance_ctx:]

    def _lead(self) -> str:
        return ' '.join([super()._lead()] + ['X'] * self.n_instance_ctx)

    def instance_features(self, text_encoder: TextEncoder,
                          index: torch.Tensor) -> torch.Tensor:
        """Text features ``(len(index), embed_dim)`` of instance prompts.

        Args:
            text_encoder (OpenCLIPTextEncoder): The head's text encoder.
            index (torch.Tensor): Instance indices (sample indices).
        """
        self._check_bound()
        self._check_instances_bound()
        index = index.to(self.instance_ctx.device)
        labels = self.instance_labels[index]
        ctx = self.ctx.unsqueeze(0).expand(len(index), -1, -1)
        parts = [
            self.prefix.to(ctx)[labels], ctx, self.instance_ctx[index],
            self.suffix.to(ctx)[labels]
        ]
        return text_encoder(
            torch.cat(parts, dim=1),
            self.tokens.to(ctx.device)[labels])

    def forward(self, text_encoder: TextEncoder) -> torch.Tensor:
        """Class features: the mean of a class's normalised instance features.

        Used where one feature per class is wanted (e.g. plots); the
        instance head classifies with :meth:`instance_features` instead.
        """
        index = torch.arange(self.num_instances)
        feats = F.normalize(
            self.instance_features(text_encoder, index), dim=-1)
        labels = self.instance_labels.to(feats.device)
        sums = feats.new_zeros(self.num_train_classes, feats.shape[1])
        sums.index_add_(0, labels, feats)
        return sums / torch.bincount(
            labels, minlength=self.num_train_classes).unsqueeze(1).to(sums)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + 'instance_ctx'
        if key in state_dict and \
                state_dict[key].shape != self.instance_ctx.shape:
            raise ConfigError(
                f'Checkpoint {key!r} has shape '
                f'{tuple(state_dict[key].shape)} but this '
                f'InstancePromptLearner expects '
                f'{tuple(self.instance_ctx.shape)} (num_classes='
                f'{self.num_train_classes} x num_shots={self.num_shots} '
                f'instances, n_instance_ctx={self.n_instance_ctx}). Set '
                'them in the config to match the checkpoint.')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
