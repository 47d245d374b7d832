# Copyright (c) mmprompt contributors. All rights reserved.
from typing import Optional, Tuple, Union

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmprompt.errors import ConfigError, DataError
from mmprompt.registry import MODELS
from .prompt_cls_head import PromptClsHead


@MODELS.register_module()
class FeatureAdapter(BaseModule):
    """CLIP-Adapter's bottleneck MLP on a feature vector.

    ``x (B, C) -> ReLU(W_2 ReLU(W_1 x)) (B, C)`` with ``W_1 (C/r, C)`` and
    ``W_2 (C, C/r)``, both without bias: the ``Adapter`` of the official
    ``clip_adapter.py`` (gaopengcuhk/CLIP-Adapter), PyTorch's default
    ``nn.Linear`` initialisation included.

    Args:
        in_channels (int): Feature width ``C``.
        reduction (int): Bottleneck reduction ``r`` (hidden width
            ``C // r``). Defaults to 4.
        init_cfg (dict, optional): Initialisation config. Defaults to None
            (PyTorch's default, as the official code).
    """

    def __init__(self,
                 in_channels: int,
                 reduction: int = 4,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(in_channels, bool) or not isinstance(in_channels, int) \
                or in_channels < 1:
            raise ConfigError(
                f'FeatureAdapter: in_channels must be a positive int, not '
                f'{in_channels!r}; set it to the width of the image features '
                '(e.g. 512 for CLIP ViT-B/16, 1024 for RN50).')
        if isinstance(reduction, bool) or not isinstance(reduction, int) \
                or not 1 <= reduction <= in_channels:
            raise ConfigError(
                f'FeatureAdapter: reduction must be an int in [1, '
                f'in_channels={in_channels}], not {reduction!r} (CLIP-Adapter '
                'uses 4).')
        self.in_channels = in_channels
        self.reduction = reduction
        hidden = in_channels // reduction
        self.fc = nn.Sequential(
            nn.Linear(in_channels, hidden, bias=False), nn.ReLU(inplace=True),
            nn.Linear(hidden, in_channels, bias=False), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C)`` features -> ``(B, C)`` adapted features."""
        if x.dim() != 2 or x.shape[1] != self.in_channels:
            raise DataError(
                f'FeatureAdapter expects (B, {self.in_channels}) features, '
                f'got shape {tuple(x.shape)}; set the adapter\'s in_channels '
                'to the width of the image encoder\'s output.')
        return self.fc(x.to(self.fc[0].weight.dtype))


@MODELS.register_module()
class CLIPAdapterHead(PromptClsHead):
    """The head of CLIP-Adapter: a residual feature adapter on the image
    feature, classified against frozen hand-crafted class texts.

    Gao et al., "CLIP-Adapter: Better Vision-Language Models with Feature
    Adapters", IJCV 2023. With ``f`` the frozen CLIP image feature and
    ``A`` the bottleneck :class:`FeatureAdapter`::

        f' = alpha * A(f) + (1 - alpha) * f
        logits = logit_scale * normalize(f') @ normalize(t)^T

    where ``t`` are the class text features of the prompt learner (the
    dataset's CoOp template, ``HandcraftedPrompts``, as the official
    ``TextEncoder``'s ``CUSTOM_TEMPLATES``) and ``alpha`` the residual
    ratio (0.2 in the official ``CustomCLIP.forward``). Only the adapter
    trains; the CLIP towers keep themselves out of checkpoints, so a
    checkpoint holds the adapter alone. The image tower is untouched, so
    the feature store can serve its features (training views included).

    Args:
        adapter (dict | nn.Module): The adapter; a config without
            ``in_channels`` gets the text encoder's embedding width.
            Defaults to ``dict(type='FeatureAdapter', reduction=4)``.
        ratio (float): The residual ratio ``alpha`` in ``[0, 1]``.
            Defaults to 0.2.
        **kwargs: :class:`PromptClsHead` arguments (``text_encoder``,
            ``prompt_learner``, ``loss``, ...).
    """

    def __init__(self,
                 adapter: Union[dict, nn.Module] = dict(
                     type='FeatureAdapter', reduction=4),
                 ratio: float = 0.2,
                 **kwargs):
        super().__init__(**kwargs)
        if isinstance(ratio, bool) or not isinstance(ratio, (int, float)) \
                or not 0.0 <= ratio <= 1.0:
            raise ConfigError(
                f'CLIPAdapterHead: ratio must be a number in [0, 1], not '
                f'{ratio!r} (the share of the adapted feature; CLIP-Adapter '
                'uses 0.2).')
        self.ratio = float(ratio)
        if isinstance(adapter, dict):
            adapter = dict(adapter)
            adapter.setdefault('in_channels', self.text_encoder.embed_dim)
            adapter = MODELS.build(adapter)
        self.adapter = adapter
        width = getattr(adapter, 'in_channels', None)
        if width is not None and width != self.text_encoder.embed_dim:
            raise ConfigError(
                f'CLIPAdapterHead: the adapter has in_channels={width} but '
                f'the text encoder embeds in {self.text_encoder.embed_dim} '
                'dimensions; drop adapter.in_channels (it defaults to the '
                'embedding width) or set it to match.')

    def pre_logits(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """The blended image feature ``alpha * A(f) + (1 - alpha) * f``
        ``(B, C)`` (not normalised) of the last feature ``f``."""
        x = feats[-1]
        adapted = self.adapter(x)
        return self.ratio * adapted + (1.0 - self.ratio) * x.to(adapted.dtype)
