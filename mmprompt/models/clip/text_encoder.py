# Copyright (c) mmprompt contributors. All rights reserved.
"""The text tower of an open_clip model, fed with token embeddings."""
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from .loading import get_tokenizer, open_clip_for
from .tower import (FrozenCLIPTower, ReadOnlyTokens, expand_prompts,
                    per_head_mask, readonly_attention_mask, run_blocks)


@MODELS.register_module()
class OpenCLIPTextEncoder(FrozenCLIPTower):
    """The text tower of an open_clip model, fed with token embeddings.

    :meth:`tokenize` and :meth:`embed` turn text into token ids and token
    embeddings; prompt learners replace some of the embeddings with learned
    vectors and call :meth:`forward`. Because attention is causal, the EOT
    feature depends only on the positions up to it, so the transformer runs
    on the first ``max(EOT) + 1`` positions (``truncate=True``): the same
    features as ``encode_text`` at a fraction of the cost.

    Args:
        model_name (str): open_clip model name. Defaults to 'ViT-B-16'.
        pretrained (str, optional): open_clip tag, local file or None.
            Defaults to None.
        cache_dir (str, optional): open_clip download cache. Defaults to None.
        frozen (bool): Freeze the tower. Defaults to True.
        truncate (bool): Run only up to the last EOT position. Defaults to
            True.
        model_kwargs (dict, optional): Extra ``open_clip.create_model``
            arguments. Defaults to None.
        grad_checkpointing (bool): Recompute the activations of each
            residual block in the backward pass instead of keeping them
            (open_clip's ``set_grad_checkpointing``): much less memory for
            prompt learners whose gradients flow through the tower (CoOp,
            ...), about one more forward pass of time; the same features
            and gradients. Defaults to False.
        init_cfg (dict, optional): Unused. Defaults to None.

    Shapes:
        ``(N, L, width)`` embeddings and ``(N, L)`` token ids (``L`` up to the
        context length; only positions up to each row's EOT matter, so
        prompt learners may pass sequences cut after the last EOT) ->
        ``(N, embed_dim)`` features.
    """

    def __init__(self,
                 model_name: str = 'ViT-B-16',
                 pretrained: Optional[str] = None,
                 cache_dir: Optional[str] = None,
                 frozen: bool = True,
                 truncate: bool = True,
                 model_kwargs: Optional[dict] = None,
                 grad_checkpointing: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(frozen=frozen, init_cfg=init_cfg)
        clip = open_clip_for('text', model_name, pretrained, cache_dir,
                             **(model_kwargs or {}))
        text = getattr(clip, 'text', clip)  # CustomTextCLIP keeps a tower
        for attr in ('token_embedding', 'positional_embedding', 'transformer',
                     'ln_final', 'text_projection'):
            if not hasattr(text, attr):
                raise NotImplementedError(
                    f'open_clip model {model_name!r} has no CLIP-style text '
                    f'transformer (missing {attr!r}); mmprompt supports '
                    'models whose text tower is open_clip\'s transformer.')
        pool_type = getattr(text, 'text_pool_type',
                            getattr(text, 'pool_type', 'argmax'))
        if pool_type != 'argmax' or getattr(text, 'cls_emb', None) is not None:
            raise NotImplementedError(
                f'open_clip model {model_name!r} pools text with '
                f'{pool_type!r}; mmprompt supports EOT (argmax) pooling.')
        self.model_name = model_name
        self.truncate = truncate
        self.token_embedding = text.token_embedding
        self.positional_embedding = text.positional_embedding
        self.transformer = text.transformer
        self.transformer.grad_checkpointing = grad_checkpointing
        self.ln_final = text.ln_final
        self.text_projection = text.text_projection
        self.register_buffer('attn_mask', text.attn_mask, persistent=False)
        self.register_buffer(
            'logit_scale', clip.logit_scale.detach().clone(), persistent=False)
        self.context_length = self.positional_embedding.shape[0]
        self.width = self.token_embedding.weight.shape[1]
        self._tokenizer = get_tokenizer(model_name)
        self._freeze()

    @property
    def device(self) -> torch.device:
        return self.token_embedding.weight.device

    @property
    def embed_dim(self) -> int:
        """Width of the joint (projected) embedding space."""
        proj = self.text_projection
        return proj.out_features if isinstance(proj,
                                               nn.Linear) else proj.shape[1]

    def tokenize(self, texts: Union[str, Sequence[str]]) -> torch.Tensor:
        """Texts -> ``(N, context_length)`` token ids on the tower's device.

        Raises:
            ValueError: a text is longer than the context (open_clip would
                silently cut it off).
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        for text in texts:
            if len(self._tokenizer.encode(text)) + 2 > self.context_length:
                raise ConfigError(
                    f'Text {text!r} does not fit the text encoder\'s context '
                    f'of {self.context_length} tokens; shorten the class '
                    'name or template, or use fewer context tokens.')
        tokens = self._tokenizer(texts)
        return tokens.to(self.device)

    def encode_words(self, text: str) -> List[int]:
        """Token ids of ``text`` without start/end tokens."""
        return self._tokenizer.encode(text)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token ids -> token embeddings ``(N, L, width)``."""
        return self.token_embedding(tokens.to(self.device))

    def forward(
        self,
        embeddings: torch.Tensor,
        tokens: torch.Tensor,
        deep_prompts: Optional[Sequence[torch.Tensor]] = None,
        readonly: Optional[ReadOnlyTokens] = None
    ) -> Union[torch.Tensor, Tuple[torch.Tensor, torch.Tensor]]:
        """Token embeddings -> projected EOT features ``(N, embed_dim)``.

        Args:
            embeddings (torch.Tensor): ``(N, L, width)`` token embeddings
                (with the learned context already in them).
            tokens (torch.Tensor): ``(N, L')`` token ids (for the EOT).
            deep_prompts (Sequence[torch.Tensor], optional): Deep text
                prompts: ``deep_prompts[j]`` (``(P, width)``) replaces
                positions ``1 .. P`` (the context after the start token)
                before block ``j + 1`` (MaPLe, IVLP). Defaults to None.
            readonly (ReadOnlyTokens, optional): ``P`` read-only tokens
                (RPO) appended after the (truncated) sequence, without
                positional embedding; they attend to the positions up to
                their row's EOT (:func:`readonly_attention_mask`), and
                nothing attends to them, so the EOT features are those
                without them. Defaults to None.

        Returns:
            torch.Tensor | tuple: The ``(N, embed_dim)`` EOT features; with
            ``readonly``, ``(features, readonly_features)``, the latter the
            ``(N, P, embed_dim)`` outputs of the read-only tokens after
            ``ln_final`` and the projection.
        """
        deep_prompts = list(deep_prompts or [])
        if len(deep_prompts) >= len(self.transformer.resblocks):
            raise ValueError(
                f'{len(deep_prompts)} layers of deep text prompts (plus the '
                'input context) but the text transformer of '
                f'{self.model_name!r} has {len(self.transformer.resblocks)} '
                'blocks; lower the prompt depth.')
        eot = tokens.argmax(dim=-1)
        last = int(eot.max())
        if embeddings.shape[1] <= last:
            raise ValueError(
                f'Embeddings of length {embeddings.shape[1]} end before the '
                f'EOT token at position {last}.')
        length = last + 1 if self.truncate else self.context_length
        if embeddings.shape[1] < length:  # truncate=False on short prompts
            embeddings = F.pad(embeddings,
                               (0, 0, 0, length - embeddings.shape[1]))
        cast_dtype = self.transformer.get_cast_dtype()
        x = embeddings[:, :length].to(cast_dtype)
        x = x + self.positional_embedding[:length].to(cast_dtype)
        mask = self.attn_mask
        if mask is not None:
            mask = mask[:length, :length]
        if readonly is not None:
            x, mask = self._append_readonly(x, eot, mask, readonly)

        def inject(i, x):
            if i > len(deep_prompts) or deep_prompts[i - 1] is None:
                return x
            new = expand_prompts(deep_prompts[i - 1], x.shape[0], x)
            return torch.cat([x[:, :1], new, x[:, 1 + new.shape[1]:]], dim=1)

        x = run_blocks(self.transformer, x, mask,
                       inject if deep_prompts else None)
        x = self.ln_final(x)
        if readonly is not None:
            return (self._project(x[torch.arange(x.shape[0], device=x.device),
                                    eot]), self._project(x[:, length:]))
        x = x[torch.arange(x.shape[0], device=x.device), eot]
        return self._project(x)

    def _project(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.text_projection, nn.Linear):
            return self.text_projection(x)
        return x @ self.text_projection

    def _append_readonly(self, x: torch.Tensor, eot: torch.Tensor,
                         mask: Optional[torch.Tensor],
                         readonly: ReadOnlyTokens) -> tuple:
        """Append read-only tokens and build their attention mask."""
        if not isinstance(readonly, ReadOnlyTokens):
            raise TypeError('readonly must be a ReadOnlyTokens, not '
                            f'{type(readonly).__name__}.')
        tokens = readonly.tokens
        if tokens.dim() not in (2, 3) or tokens.shape[-1] != self.width \
                or tokens.shape[-2] < 1:
            raise ValueError(
                f'Read-only tokens of shape {tuple(tokens.shape)} do not fit '
                f'the text encoder of {self.model_name!r}: give (P, '
                f'{self.width}) or (N, P, {self.width}) with P >= 1.')
        if tokens.dim() == 3 and tokens.shape[0] != x.shape[0]:
            raise ValueError(f'{tokens.shape[0]} rows of read-only tokens for '
                             f'{x.shape[0]} texts.')
        length = x.shape[1]
        appended = expand_prompts(tokens, x.shape[0], x)
        visible = torch.arange(length, device=x.device)[None] <= eot[:, None]
        mask = readonly_attention_mask(
            length,
            appended.shape[1],
            base=mask,
            visible=visible,
            among=readonly.among,
            dtype=x.dtype,
            device=x.device)
        return torch.cat([x, appended],
                         dim=1), per_head_mask(mask, self.transformer)

    def encode_text(self, texts: Union[str, Sequence[str]]) -> torch.Tensor:
        """Plain texts -> ``(N, embed_dim)`` features (unnormalised)."""
        tokens = self.tokenize(texts)
        return self(self.embed(tokens), tokens)

    @property
    def eot_token_id(self) -> int:
        return self._tokenizer.eot_token_id

    @property
    def sot_token_id(self) -> int:
        return self._tokenizer.sot_token_id
