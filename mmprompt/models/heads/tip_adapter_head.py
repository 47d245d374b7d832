# Copyright (c) mmprompt contributors. All rights reserved.
import logging
from typing import List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmpretrain.structures import DataSample

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from .prompt_cls_head import PromptClsHead


def _is_number(value, types=(int, float)) -> bool:
    """Whether ``value`` is of ``types`` (never a bool)."""
    return isinstance(value, types) and not isinstance(value, bool)


def cache_logits(affinity: torch.Tensor, values: torch.Tensor,
                 beta: float) -> torch.Tensor:
    """Tip-Adapter's cache logits ``exp(-beta * (1 - A)) @ values``.

    Args:
        affinity (torch.Tensor): ``(B, M)`` cosine affinities
            ``A = f keys^T`` of the images to the ``M`` cache keys.
        values (torch.Tensor): ``(M, C)`` one-hot labels of the keys.
        beta (float | torch.Tensor): The sharpness.

    Returns:
        torch.Tensor: ``(B, C)`` cache logits.
    """
    return (-beta * (1 - affinity)).exp() @ values.to(affinity.dtype)


def tip_adapter_logits(image: torch.Tensor, text: torch.Tensor,
                       keys: torch.Tensor, values: torch.Tensor, alpha: float,
                       beta: float, logit_scale: float) -> torch.Tensor:
    """``logit_scale * f W^T + alpha * exp(-beta (1 - f keys^T)) values``.

    The logits of Tip-Adapter (``run_tip_adapter`` of the official
    ``main.py``) for L2-normalised image features ``f`` ``(B, D)``, class
    text features ``W`` ``(C, D)``, cache keys ``(M, D)`` and one-hot
    values ``(M, C)``.
    """
    clip = logit_scale * image @ text.t()
    return clip + alpha * cache_logits(image @ keys.t(), values, beta)


@MODELS.register_module()
class TipAdapterHead(PromptClsHead):
    """The head of Tip-Adapter and Tip-Adapter-F: CLIP logits plus a
    key-value cache of the few-shot training features.

    Zhang et al., "Tip-Adapter: Training-free Adaption of CLIP for Few-shot
    Classification", ECCV 2022. With ``f`` the L2-normalised image feature,
    ``W`` the L2-normalised hand-crafted class text features, the cache
    keys ``F_train`` ``(M, D)`` (the few-shot training images' features,
    averaged over augmented views, then L2-normalised) and values
    ``L_train`` ``(M, C)`` (their one-hot labels)::

        logits = logit_scale * f W^T
                 + alpha * exp(-beta * (1 - f F_train^T)) L_train

    as the official ``main.py`` computes it (``logit_scale`` 100). The
    cache is set by :meth:`set_cache` (``TipAdapterHook`` builds it from
    the feature store before training); the values are kept as the labels
    of the keys (a one-hot ``(M, C)`` float matrix would be 2,000 times
    larger on ImageNet) and expanded when used. ``alpha`` and ``beta`` start at
    the config's ``alpha`` / ``beta`` (the official ``init_alpha`` /
    ``init_beta``) and are replaced by the values ``TipAdapterHook``
    searches on the validation split. Cache, ``alpha`` and ``beta`` are
    saved in the checkpoint (the frozen CLIP towers are not).

    With ``finetune=True`` (Tip-Adapter-F) the keys are a trainable
    parameter initialised from the cache keys (the official
    ``nn.Linear(D, M, bias=False)`` adapter whose weight is the keys), and
    :meth:`loss` is the cross-entropy of the logits above.

    Args:
        alpha (float): Initial residual ratio. Defaults to 1.0.
        beta (float): Initial sharpness. Defaults to 1.0.
        finetune (bool): Train the keys (Tip-Adapter-F). Defaults to False.
        prompt_learner (dict | nn.Module): The hand-crafted class prompts.
            Defaults to the dataset's template,
            ``dict(type='HandcraftedPrompts', templates='dataset')``.
        logit_scale (float, optional): Scale of the CLIP logits; the
            official code hard-codes 100, OpenAI CLIP's temperature. None
            takes the text encoder's temperature (the same 100 for OpenAI
            CLIP; the offline world's tiny CLIP has 18.9). Defaults to 100.
        **kwargs: :class:`PromptClsHead` arguments (``text_encoder``,
            ``loss``, ...).

    Shapes:
        ``cache_keys``: ``(M, embed_dim)``, a buffer (a parameter with
        ``finetune``); ``cache_labels``: ``(M, )`` int64 buffer and
        ``cache_classes``: scalar buffer (C), whose one-hot expansion is
        :attr:`cache_values` ``(M, C)``; ``alpha`` and ``beta``: scalar
        buffers. The cache is empty (``M = 0``) until set.
    """

    def __init__(self,
                 alpha: float = 1.0,
                 beta: float = 1.0,
                 finetune: bool = False,
                 prompt_learner=dict(
                     type='HandcraftedPrompts', templates='dataset'),
                 logit_scale: Optional[float] = 100.,
                 **kwargs):
        super().__init__(
            prompt_learner=prompt_learner, logit_scale=logit_scale, **kwargs)
        for name, value in (('alpha', alpha), ('beta', beta)):
            if not _is_number(value) or value < 0:
                raise ConfigError(
                    f'TipAdapterHead: {name}={value!r}; it must be a '
                    'non-negative number (the official init_alpha / '
                    'init_beta, e.g. alpha=2.0, beta=1.0 on DTD).')
        if any(True for _ in self.prompt_learner.parameters()):
            raise ConfigError(
                'TipAdapterHead: the prompt learner '
                f'{type(self.prompt_learner).__name__} has parameters; '
                "Tip-Adapter's class texts are hand-crafted, use "
                "prompt_learner=dict(type='HandcraftedPrompts', ...).")
        self.finetune = finetune
        device = self.text_encoder.device
        dim = self.text_encoder.embed_dim
        keys = torch.zeros(0, dim, device=device)
        if finetune:
            self.cache_keys = nn.Parameter(keys)
        else:
            self.register_buffer('cache_keys', keys)
        self.register_buffer('cache_labels',
                             torch.zeros(0, dtype=torch.long, device=device))
        self.register_buffer('cache_classes', torch.tensor(0, device=device))
        self._values = None  # (key, one-hot values)
        self._warned_empty = False
        self.register_buffer('alpha', torch.tensor(float(alpha)))
        self.register_buffer('beta', torch.tensor(float(beta)))

    @property
    def cache_values(self) -> torch.Tensor:
        """The one-hot values ``(M, C)`` of the cache, float32."""
        key = (self.cache_labels.data_ptr(), self.cache_labels._version,
               self.cache_labels.device, int(self.cache_classes))
        if self._values is None or self._values[0] != key:
            self._values = (key,
                            F.one_hot(self.cache_labels,
                                      int(self.cache_classes)).float())
        return self._values[1]

    @property
    def cache_size(self) -> int:
        """The number ``M`` of cache entries (0 until set)."""
        return self.cache_keys.shape[0]

    def set_cache(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Set the cache (keys also initialise the trainable keys of -F).

        The parameter keeps its identity (its data is replaced), so an
        optimiser built before keeps training it.

        Args:
            keys (torch.Tensor): ``(M, embed_dim)`` L2-normalised keys.
            values (torch.Tensor): ``(M, num_classes)`` one-hot labels.
        """
        dim = self.text_encoder.embed_dim
        if keys.dim() != 2 or keys.shape[1] != dim or values.dim() != 2 \
                or values.shape[0] != keys.shape[0]:
            raise ConfigError(
                f'TipAdapterHead: cache keys {tuple(keys.shape)} and values '
                f'{tuple(values.shape)} do not fit; they must be (M, {dim}) '
                'and (M, num_classes).')
        labels = values.argmax(dim=1)
        if not torch.equal(
                values.float(),
                F.one_hot(labels, values.shape[1]).float().to(values.device)):
            raise ConfigError('TipAdapterHead: the cache values must be '
                              'one-hot labels (rows of 0 and a single 1).')
        with torch.no_grad():
            self.cache_keys.data = keys.detach().to(self.cache_keys.device,
                                                    torch.float32).clone()
            self.cache_labels = labels.to(self.cache_labels.device)
            self.cache_classes.fill_(values.shape[1])

    def set_alpha_beta(self, alpha: float, beta: float) -> None:
        """Set the residual ratio and the sharpness (the searched ones)."""
        self.alpha.fill_(float(alpha))
        self.beta.fill_(float(beta))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        for name in ('cache_keys', 'cache_labels'):
            key = prefix + name
            if key in state_dict:  # the cache takes the checkpoint's size
                getattr(self, name).data = getattr(self, name).new_empty(
                    state_dict[key].shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def check_cache(self, allow_empty: bool = False) -> None:
        """Raise unless a cache fitting the bound classes is set.

        Args:
            allow_empty (bool): An empty cache passes (with a warning, once):
                the logits are then zero-shot CLIP's. Defaults to False.
        """
        if self.cache_size == 0 and allow_empty:
            if not self._warned_empty:
                print_log(
                    'TipAdapterHead has no cache yet: its logits are '
                    'zero-shot CLIP\'s until TipAdapterHook builds the cache '
                    'or a Tip-Adapter checkpoint is loaded.',
                    logger='current',
                    level=logging.WARNING)
                self._warned_empty = True
            return
        if self.cache_size == 0:
            raise RuntimeError(
                'TipAdapterHead has no cache. Set default_hooks.tip_adapter='
                "dict(type='TipAdapterHook', ...) (the configs in "
                'configs/tip_adapter/ do; it builds the cache from the '
                'training set before training), load a Tip-Adapter '
                'checkpoint, or call head.set_cache(keys, values).')
        num_classes = len(self.classnames or ())
        if num_classes and self.cache_values.shape[1] != num_classes:
            raise ConfigError(
                f'TipAdapterHead: the cache has {self.cache_values.shape[1]} '
                f'classes but the head is bound to {num_classes}; test on '
                'the classes the cache was built from.')

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Image features -> Tip-Adapter logits ``(B, num_classes)``
        (zero-shot CLIP's, with a warning, while the cache is empty)."""
        self.check_cache(allow_empty=True)
        image = F.normalize(self.pre_logits(feats), dim=-1)
        text = self.text_features().to(image.dtype)
        if self.cache_size == 0:
            return self.logit_scale.to(image.device) * image @ text.t()
        return tip_adapter_logits(image, text, self.cache_keys.to(image.dtype),
                                  self.cache_values, self.alpha.to(image),
                                  self.beta.to(image),
                                  self.logit_scale.to(image.device))

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """Cross-entropy of the Tip-Adapter logits (Tip-Adapter-F)."""
        self.check_cache()
        return self._get_loss(self(feats), data_samples, **kwargs)
