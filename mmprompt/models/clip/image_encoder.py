# Copyright (c) mmprompt contributors. All rights reserved.
"""The image tower of an open_clip model as an mmpretrain backbone."""
from typing import Optional, Tuple, Union

import open_clip
import torch

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from .loading import open_clip_for
from .tower import (VISION_PROMPT_POSITIONS, FrozenCLIPTower, ReadOnlyTokens,
                    VisualPrompts, expand_prompts, readonly_attention_mask,
                    run_blocks)


@MODELS.register_module()
class OpenCLIPImageEncoder(FrozenCLIPTower):
    """The image tower of an open_clip model as an mmpretrain backbone.

    Returns features in CLIP's joint embedding space (after the projection).
    For vision transformers the forward is spelled out token by token:
    :meth:`embed` (patchify, CLS, positional embedding, ``ln_pre``),
    :meth:`blocks` (the residual blocks, one at a time) and :meth:`pool`
    (``ln_post``, pooling, projection), so visual prompts can be inserted or
    replaced between them. Other towers (ResNets, timm) run as a whole.

    Args:
        model_name (str): open_clip model name. Defaults to 'ViT-B-16'.
        pretrained (str, optional): open_clip tag, local file or None.
            Defaults to None.
        cache_dir (str, optional): open_clip download cache. Defaults to None.
        frozen (bool): Freeze the tower. Defaults to True.
        model_kwargs (dict, optional): Extra ``open_clip.create_model``
            arguments. Defaults to None.
        grad_checkpointing (bool): Recompute the activations of each
            residual block in the backward pass instead of keeping them
            (open_clip's ``set_grad_checkpointing``): less memory for
            gradients through the tower (deep visual prompts), about one
            more forward pass of time; the same outputs and gradients.
            Defaults to False.
        init_cfg (dict, optional): Unused. Defaults to None.

    Shapes:
        ``(B, 3, H, W)`` images -> a tuple holding one ``(B, embed_dim)``
        feature tensor.
    """

    def __init__(self,
                 model_name: str = 'ViT-B-16',
                 pretrained: Optional[str] = None,
                 cache_dir: Optional[str] = None,
                 frozen: bool = True,
                 model_kwargs: Optional[dict] = None,
                 grad_checkpointing: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(frozen=frozen, init_cfg=init_cfg)
        clip = open_clip_for('visual', model_name, pretrained, cache_dir,
                             **(model_kwargs or {}))
        self.model_name = model_name
        self.visual = clip.visual
        if grad_checkpointing:
            self.visual.set_grad_checkpointing(True)
        self.embed_dim = clip.visual.output_dim
        self.is_vit = isinstance(self.visual,
                                 open_clip.transformer.VisionTransformer)
        self._freeze()

    def _require_vit(self):
        if not self.is_vit:
            raise NotImplementedError(
                f'Visual prompts need a vision transformer, but the image '
                f'tower of {self.model_name!r} is a '
                f'{type(self.visual).__name__}; use a text-only prompt '
                'method (CoOp, ...) with it.')

    @property
    def width(self) -> int:
        """Token width of the vision transformer."""
        self._require_vit()
        return self.visual.transformer.width

    @property
    def num_layers(self) -> int:
        """Number of residual blocks of the vision transformer."""
        self._require_vit()
        return len(self.visual.transformer.resblocks)

    @property
    def patch_size(self) -> Tuple[int, int]:
        """Patch size ``(h, w)`` of the vision transformer."""
        self._require_vit()
        return tuple(self.visual.patch_size)

    @property
    def class_embedding(self) -> torch.Tensor:
        """A detached copy of the ``(width, )`` CLS token embedding (without
        its positional embedding), e.g. to initialise prompts from it."""
        self._require_vit()
        return self.visual.class_embedding.detach().clone()

    def _check_prompts(self, prompts: VisualPrompts):
        self._require_vit()
        if prompts.position not in VISION_PROMPT_POSITIONS:
            raise ValueError(
                f'Visual prompt position {prompts.position!r} is unknown; '
                f'choose one of {VISION_PROMPT_POSITIONS}.')
        if not prompts.tokens or prompts.tokens[0] is None:
            raise ValueError('VisualPrompts.tokens[0] (the prompts inserted '
                             'into the input) is missing.')
        if len(prompts.tokens) > self.num_layers:
            raise ValueError(
                f'{len(prompts.tokens)} layers of visual prompts but the '
                f'vision transformer of {self.model_name!r} has '
                f'{self.num_layers} blocks; lower the prompt depth.')
        for i, tokens in enumerate(prompts.tokens):
            if tokens is not None and tokens.shape[-1] != self.width:
                raise ValueError(
                    f'Visual prompts of layer {i} have width '
                    f'{tokens.shape[-1]} but the vision transformer of '
                    f'{self.model_name!r} has width {self.width}.')

    def embed(self,
              x: torch.Tensor,
              prompts: Optional[VisualPrompts] = None) -> torch.Tensor:
        """Images ``(B, 3, H, W)`` -> tokens ``(B, 1 + N [+ P], width)``.

        With ``prompts``, ``prompts.tokens[0]`` is inserted at
        ``prompts.position`` (see :class:`VisualPrompts`).
        """
        tokens = self.visual._embeds(x)
        if prompts is None:
            return tokens
        first = expand_prompts(prompts.tokens[0], tokens.shape[0], tokens)
        if prompts.position == 'append':
            return torch.cat([tokens, self.visual.ln_pre(first)], dim=1)
        return torch.cat([tokens[:, :1], first, tokens[:, 1:]], dim=1)

    def blocks(self,
               tokens: torch.Tensor,
               prompts: Optional[VisualPrompts] = None) -> torch.Tensor:
        """Run the residual blocks, replacing deep prompts before each."""
        if prompts is None or len(prompts.tokens) < 2:
            return run_blocks(self.visual.transformer, tokens)
        num = prompts.tokens[0].shape[-2]

        def inject(i, x):
            if i >= len(prompts.tokens) or prompts.tokens[i] is None:
                return x
            new = expand_prompts(prompts.tokens[i], x.shape[0], x)
            if prompts.position == 'append':
                return torch.cat([x[:, :x.shape[1] - num], new], dim=1)
            return torch.cat([x[:, :1], new, x[:, 1 + num:]], dim=1)

        return run_blocks(self.visual.transformer, tokens, inject=inject)

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens -> projected image features ``(B, embed_dim)``."""
        pooled, _ = self.visual._pool(tokens)
        if self.visual.proj is not None:
            pooled = pooled @ self.visual.proj
        return pooled

    def forward_readonly(
            self, x: torch.Tensor,
            readonly: ReadOnlyTokens) -> Tuple[torch.Tensor, torch.Tensor]:
        """Images with read-only tokens -> ``(features, readonly_features)``.

        The ``P`` tokens are appended after the patch tokens (through
        ``ln_pre``, without positional embedding) and read the sequence
        under :func:`readonly_attention_mask`: nothing attends to them, so
        ``features`` ``(B, embed_dim)`` are the tower's features without
        them; ``readonly_features`` ``(B, P, embed_dim)`` are their outputs
        after ``ln_post`` and the projection (RPO, official
        ``trainers/rpo.py``: ``img_post_ln(x[:, -K:]) @ img_proj``).
        """
        self._require_vit()
        if getattr(self.visual, 'attn_pool', None) is not None:
            raise NotImplementedError(
                f'Read-only tokens need a vision transformer that pools its '
                f'CLS token, but {self.model_name!r} pools with attention.')
        tokens = readonly.tokens
        if tokens.dim() not in (2, 3) or tokens.shape[-1] != self.width \
                or tokens.shape[-2] < 1:
            raise ValueError(
                f'Read-only tokens of shape {tuple(tokens.shape)} do not fit '
                f'the vision transformer of {self.model_name!r}: give (P, '
                f'{self.width}) or (B, P, {self.width}) with P >= 1.')
        seq = self.visual._embeds(x)
        length = seq.shape[1]
        appended = self.visual.ln_pre(
            expand_prompts(tokens, seq.shape[0], seq))
        mask = readonly_attention_mask(
            length,
            appended.shape[1],
            among=readonly.among,
            dtype=seq.dtype,
            device=seq.device)
        out = run_blocks(self.visual.transformer,
                         torch.cat([seq, appended], dim=1), mask)
        extra = self.visual.ln_post(out[:, length:])
        if self.visual.proj is not None:
            extra = extra @ self.visual.proj
        return self.pool(out[:, :length]), extra

    def forward(
        self,
        x: torch.Tensor,
        prompts: Union[VisualPrompts, ReadOnlyTokens, None] = None
    ) -> Tuple[torch.Tensor, ...]:
        """Images (and optional visual prompts) -> ``(features, )``.

        With :class:`ReadOnlyTokens` as ``prompts`` (RPO) the output is
        :meth:`forward_readonly`'s ``(features, readonly_features)``.

        ``(B, embed_dim)`` inputs are image features this tower computed
        before (served by the feature store, see
        :mod:`mmprompt.engine.feature_store`) and are returned unchanged;
        they cannot take visual prompts.
        """
        if x.dim() == 2:
            if prompts is not None:
                raise ConfigError(
                    'OpenCLIPImageEncoder got stored image features, which '
                    'cannot take visual prompts; turn the feature store off '
                    "for this model (default_hooks.feature_store.test=False).")
            if x.shape[1] != self.embed_dim:
                raise ConfigError(
                    f'OpenCLIPImageEncoder got 2-d inputs of width '
                    f'{x.shape[1]}, but stored features of '
                    f'{self.model_name!r} have width {self.embed_dim}.')
            return (x, )
        if isinstance(prompts, ReadOnlyTokens):
            return self.forward_readonly(x, prompts)
        if prompts is not None:
            self._check_prompts(prompts)
        elif not self.is_vit:
            return (self.visual(x), )
        return (self.pool(self.blocks(self.embed(x, prompts), prompts)), )
