# Copyright (c) mmprompt contributors. All rights reserved.
"""The projection of backbone features into CLIP's joint space."""
from typing import Optional, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule

from mmprompt.registry import MODELS


@MODELS.register_module()
class CLIPProjectionNeck(BaseModule):
    """Project backbone features into CLIP's joint space: ``x @ proj``.

    For mmpretrain backbones (e.g. its CLIP ``VisionTransformer`` with
    ``out_type='cls_token'``, ``pre_norm=True``) whose features must meet the
    text features of an :class:`OpenCLIPTextEncoder`. The parameter is named
    ``proj`` with shape ``(in_channels, out_channels)`` like the projection
    in mmpretrain's converted OpenAI CLIP weights.

    Args:
        in_channels (int): Backbone feature width. Defaults to 768.
        out_channels (int): Joint embedding width. Defaults to 512.
        frozen (bool): Freeze the projection. Defaults to True.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 in_channels: int = 768,
                 out_channels: int = 512,
                 frozen: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.proj = nn.Parameter(
            torch.randn(in_channels, out_channels) * in_channels**-0.5,
            requires_grad=not frozen)

    def forward(self, inputs: Tuple[torch.Tensor]) -> Tuple[torch.Tensor]:
        x = inputs[-1] if isinstance(inputs, (tuple, list)) else inputs
        return (x @ self.proj, )
