# Copyright (c) mmprompt contributors. All rights reserved.
"""Fuse class text features with support image features into prototypes."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmprompt.registry import MODELS

_KEYS = ('class', 'task')


@MODELS.register_module()
class CrossAttentionFusion(BaseModule):
    """Multimodal prototypes: text queries attend to support images, then MLP.

    The fusion of "Prompt Tuning for Vision-Language Models via
    Meta-Training": the text feature ``w_c`` of a class is the query of a
    cross-attention whose keys and values are support image features, with a
    residual connection, followed by an MLP::

        h_c = w_c + Attn(w_c, S, S)        # attn_residual=True
        p_c = h_c + MLP(h_c)               # mlp_residual=True

    The paper fixes neither the attention's support set, nor its heads, nor
    the MLP; the defaults are mmprompt's reading (``docs/methods.md``):

    - ``keys='class'``: ``S`` is the class's own K support features;
      ``'task'`` attends over all N * K support features of the task.
    - ``num_heads=8`` (the cited Transformer's choice) and an MLP
      ``Linear(D, r * D) -> GELU -> Linear(r * D, D)`` with ``r =
      mlp_ratio = 1``.
    - ``normalize_inputs=True``: text and image features are L2-normalised
      first (the predictions compare them by cosine anyway; raw CLIP image
      and text features have different norms).

    Args:
        embed_dims (int): Feature width D (CLIP's embedding width). The
            meta-prompt head passes its text encoder's.
        num_heads (int): Attention heads; must divide ``embed_dims``.
            Defaults to 8.
        keys (str): ``'class'`` or ``'task'`` (see above). Defaults to
            ``'class'``.
        mlp_ratio (float): Hidden width of the MLP over ``embed_dims``.
            Defaults to 1.0.
        attn_residual (bool): Add the text feature to the attention output.
            Defaults to True.
        mlp_residual (bool): Add the MLP input to its output. Defaults to
            True.
        normalize_inputs (bool): L2-normalise the inputs. Defaults to True.
        init_cfg (dict, optional): Initialisation config. Defaults to None
            (PyTorch's default initialisation).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int = 8,
                 keys: str = 'class',
                 mlp_ratio: float = 1.0,
                 attn_residual: bool = True,
                 mlp_residual: bool = True,
                 normalize_inputs: bool = True,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if keys not in _KEYS:
            raise ValueError(f'CrossAttentionFusion: keys must be one of '
                             f'{_KEYS}, but got {keys!r}.')
        if embed_dims % num_heads:
            raise ValueError(
                f'CrossAttentionFusion: num_heads={num_heads} does not '
                f'divide embed_dims={embed_dims}.')
        hidden = int(round(embed_dims * mlp_ratio))
        if hidden < 1:
            raise ValueError(f'CrossAttentionFusion: mlp_ratio={mlp_ratio} '
                             f'gives an empty MLP for embed_dims='
                             f'{embed_dims}.')
        self.embed_dims = embed_dims
        self.keys = keys
        self.attn_residual = attn_residual
        self.mlp_residual = mlp_residual
        self.normalize_inputs = normalize_inputs
        self.attn = nn.MultiheadAttention(
            embed_dims, num_heads, batch_first=True)
        self.mlp = nn.Sequential(
            nn.Linear(embed_dims, hidden), nn.GELU(),
            nn.Linear(hidden, embed_dims))

    def forward(self, text: torch.Tensor,
                support: torch.Tensor) -> torch.Tensor:
        """Prototypes of the N classes of T tasks.

        Args:
            text (torch.Tensor): Class text features, ``(T, N, D)``.
            support (torch.Tensor): Support image features, ``(T, N, K, D)``
                (``support[t, n]`` are the K images of class n of task t).

        Returns:
            torch.Tensor: Multimodal prototypes ``(T, N, D)`` (not
            normalised).
        """
        if text.dim() != 3 or support.dim() != 4 or \
                support.shape[:2] != text.shape[:2] or \
                support.shape[-1] != text.shape[-1]:
            raise ValueError(
                'CrossAttentionFusion expects text (T, N, D) and support '
                f'(T, N, K, D), but got {tuple(text.shape)} and '
                f'{tuple(support.shape)}.')
        num_tasks, num_ways, num_shots, dims = support.shape
        if self.normalize_inputs:
            text = F.normalize(text, dim=-1)
            support = F.normalize(support, dim=-1)
        if self.keys == 'class':
            query = text.reshape(num_tasks * num_ways, 1, dims)
            kv = support.reshape(num_tasks * num_ways, num_shots, dims)
        else:
            query = text
            kv = support.reshape(num_tasks, num_ways * num_shots, dims)
        attended, _ = self.attn(query, kv, kv, need_weights=False)
        hidden = query + attended if self.attn_residual else attended
        hidden = hidden.reshape(num_tasks, num_ways, dims)
        out = self.mlp(hidden)
        return hidden + out if self.mlp_residual else out
