# Copyright (c) mmprompt contributors. All rights reserved.
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.logging import print_log

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from ..clip import OpenCLIPTextEncoder as TextEncoder
from .base import BasePromptLearner
from .initializers import PhrasePromptInit, RandomPromptInit, build_prompt_init


@MODELS.register_module()
class CoOpPromptLearner(BasePromptLearner):
    """Learnable context vectors of CoOp.

    Zhou et al., "Learning to Prompt for Vision-Language Models", IJCV 2022.
    The text fed to the encoder for class ``c`` is the token embeddings of
    ``[SOS] [V]_1 ... [V]_M [CLASS] . [EOS]`` where only the ``M`` context
    vectors ``[V]`` are parameters. The class-name embeddings are frozen and
    rebuilt by :meth:`set_class_names`, so the same checkpoint serves any
    class list (unless the context is class-specific).

    Args:
        text_encoder (OpenCLIPTextEncoder): The head's text encoder, used to
            size and initialise the context (not kept).
        n_ctx (int, optional): Number of context vectors ``M``. With a phrase
            init it defaults to the phrase's token count (and must equal it
            if given); otherwise it defaults to 16.
        ctx_init (str | dict, optional): Initialise the context from this
            phrase's token embeddings (CoOp: ``'a photo of a'``), ``None``
            for random ``N(0, init_std^2)``, or a prompt initialiser config,
            e.g. ``dict(type='DiffSTPromptInit', scale=0.1)`` (see
            ``initializers.py``). A phrase gives one context vector per
            *token*, so a word of several tokens (``'high-resolution'``: 3)
            gives several; CoOp counts words (``n_ctx = len(phrase.split())``)
            and keeps the rest of the phrase as fixed text. The token count
            per word is logged. Defaults to 'a photo of a'.
        class_specific (bool): One context per class (CoOp's CSC) instead of
            one shared context. Requires ``num_classes``; a phrase init is
            copied to every class (CoOp ignores CSC with a phrase init and
            learns one shared context). Defaults to False.
        num_classes (int, optional): Number of classes, for class-specific
            context. Defaults to None.
        class_token_position (str): Where the class name goes: ``'end'``,
            ``'middle'`` or ``'front'``. Defaults to 'end'.
        init_std (float): Std of the random init. Defaults to 0.02.
        init_cfg (dict, optional): Unused. Defaults to None.

    Shapes:
        ``ctx``: ``(M, width)`` or ``(num_classes, M, width)``;
        :meth:`forward` returns ``(num_classes, embed_dim)``.
    """

    POSITIONS = ('end', 'middle', 'front')

    def __init__(self,
                 text_encoder: TextEncoder,
                 n_ctx: Optional[int] = None,
                 ctx_init: Union[str, dict, None] = 'a photo of a',
                 class_specific: bool = False,
                 num_classes: Optional[int] = None,
                 class_token_position: str = 'end',
                 init_std: float = 0.02,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if class_token_position not in self.POSITIONS:
            raise ConfigError(
                f'class_token_position={class_token_position!r}; choose one '
                f'of {self.POSITIONS}.')
        if class_specific and not num_classes:
            raise ConfigError(
                'class_specific=True needs num_classes (the number of '
                'training classes) to size one context per class.')
        width = text_encoder.width
        init = build_prompt_init(
            RandomPromptInit(init_std) if ctx_init is None else ctx_init)
        implied = init.default_num_tokens(text_encoder)
        self._check_n_ctx(n_ctx, implied, ctx_init)
        n_ctx = n_ctx if n_ctx is not None else (implied or 16)
        if n_ctx == 0:
            ctx = None
        elif isinstance(init, PhrasePromptInit):
            ctx = init(text_encoder, n_ctx)  # copied to every class (CSC)
            if class_specific:
                ctx = ctx.unsqueeze(0).repeat(num_classes, 1, 1)
        else:  # one draw per token of every class
            ctx = init(text_encoder,
                       n_ctx * num_classes if class_specific else n_ctx)
            if class_specific:
                ctx = ctx.reshape(num_classes, n_ctx, width)
        self.ctx = None if ctx is None else nn.Parameter(
            ctx.to(text_encoder.device))
        self.n_ctx = n_ctx
        self.ctx_init = ctx_init
        # A phrase init is written into the prompt text; its first n_ctx
        # tokens are then replaced by the context (the rest stays text).
        self.phrase = init.phrase if isinstance(init,
                                                PhrasePromptInit) else None
        self.class_specific = class_specific
        self.class_token_position = class_token_position
        if self.phrase is not None:
            self._log_phrase(init, text_encoder, num_classes)
        self.tokens = None
        self.prefix = None
        self.suffix = None
        self.name_lens = None

    def _check_n_ctx(self, n_ctx: Optional[int], implied: Optional[int],
                     ctx_init) -> None:
        """CoOp: a phrase init fixes the number of context vectors."""
        if n_ctx is not None and n_ctx < 1:
            raise ConfigError(f'n_ctx={n_ctx}: CoOp needs at least one '
                              'context vector.')
        if n_ctx is not None and implied is not None and n_ctx != implied:
            raise ConfigError(
                f'n_ctx={n_ctx} but ctx_init={ctx_init!r} has {implied} '
                'tokens; drop n_ctx or change the phrase.')

    def _log_phrase(self, init: PhrasePromptInit, text_encoder: TextEncoder,
                    num_classes: Optional[int]) -> None:
        """Log how a phrase init became context tokens (see ``ctx_init``).
        """
        words = init.word_tokens(text_encoder)
        total = sum(count for _, count in words)
        parts = ', '.join(f'{word!r} -> {count}' for word, count in words)
        msg = (f'{type(self).__name__}: ctx_init {init.phrase!r} is {total} '
               f'tokens ({parts}); ')
        if self.n_ctx == total:
            msg += f'all {total} are learned context tokens (n_ctx={total}).'
        elif self.n_ctx == 0:
            msg += 'none is learned (n_ctx=0): the phrase is fixed text.'
        else:
            msg += (f'the first {self.n_ctx} are learned context tokens '
                    f'(n_ctx={self.n_ctx}), the other {total - self.n_ctx} '
                    'stay fixed text.')
        if total != len(words) and self.n_ctx == len(words):
            msg += ' As in CoOp, which counts words.'
        elif total != len(words):
            msg += (f' CoOp counts words: it would learn {len(words)} '
                    'context tokens and keep the rest as fixed text.')
        if self.class_specific:
            msg += (f' The phrase is copied to each of the {num_classes} '
                    'class-specific contexts (CoOp ignores class_specific '
                    'with a phrase init and learns one shared context).')
        print_log(msg, logger='current')

    def set_class_names(self,
                        classnames: Sequence[str],
                        text_encoder: TextEncoder,
                        template: Optional[str] = None,
                        dataset_name: Optional[str] = None) -> None:
        if self.class_specific and len(classnames) != self.ctx.shape[0]:
            raise ConfigError(
                f'Class-specific context was built for {self.ctx.shape[0]} '
                f'classes but {len(classnames)} class names were given; '
                'class-specific prompts only serve the classes they were '
                'trained on (use class_specific=False to transfer).')
        names = [self.prompt_name(n) for n in classnames]
        lead = self._lead()
        with torch.no_grad():
            tokens = text_encoder.tokenize(
                [f'{lead} {name}.'.lstrip() for name in names])
            length = int(tokens.argmax(dim=-1).max()) + 1
            tokens = tokens[:, :length]
            embedding = text_encoder.embed(tokens).detach()
        # With a phrase every token's embedding is used (the learned ones
        # for the initial context); placeholders are replaced.
        texts = [*names, '.'] + ([self.phrase] if self.phrase else [])
        self.check_vocabulary(
            text_encoder, [tokens],
            texts,
            skip=None if self.phrase else (1, 1 + self.n_ctx))
        self.tokens = tokens
        self.prefix = embedding[:, :1]
        self.suffix = embedding[:, 1 + self.n_ctx:]
        self.name_lens = [len(text_encoder.encode_words(n)) for n in names]
        self.classnames = list(classnames)

    def _lead(self) -> str:
        """The text before the class name; its first ``n_ctx`` tokens are
        replaced by the context (placeholders ``X`` without a phrase)."""
        return self.phrase or ' '.join(['X'] * self.n_ctx)

    def assemble(self, ctx: torch.Tensor) -> torch.Tensor:
        """Insert context vectors into the class prompts.

        Args:
            ctx (torch.Tensor): ``(M, width)`` or ``(num_classes, M, width)``
                context, e.g. :attr:`ctx` or a per-image variant of it.

        Returns:
            torch.Tensor: Token embeddings ``(num_classes, L, width)`` to feed
            with :attr:`tokens` to the text encoder.
        """
        self._check_bound()
        n_cls = len(self.classnames)
        prefix = self.prefix.to(ctx.device, ctx.dtype)
        suffix = self.suffix.to(ctx.device, ctx.dtype)
        if ctx.dim() == 2:
            ctx = ctx.unsqueeze(0).expand(n_cls, -1, -1)
        if self.class_token_position == 'end':
            return torch.cat([prefix, ctx, suffix], dim=1)
        prompts = []
        half = self.n_ctx // 2
        for i, name_len in enumerate(self.name_lens):
            name, rest = suffix[i:i + 1, :name_len], suffix[i:i + 1, name_len:]
            if self.class_token_position == 'middle':
                parts = [ctx[i:i + 1, :half], name, ctx[i:i + 1, half:]]
            else:  # front
                parts = [name, ctx[i:i + 1]]
            prompts.append(torch.cat([prefix[i:i + 1], *parts, rest], dim=1))
        return torch.cat(prompts, dim=0)

    def forward(self, text_encoder: TextEncoder) -> torch.Tensor:
        prompts = self.assemble(self.ctx)
        return text_encoder(prompts, self.tokens.to(prompts.device))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs):
        key = prefix + 'ctx'
        if key in state_dict and self.ctx is not None and \
                state_dict[key].shape != self.ctx.shape:
            raise ConfigError(
                f'Checkpoint context {key!r} has shape '
                f'{tuple(state_dict[key].shape)} but this '
                f'{type(self).__name__} expects {tuple(self.ctx.shape)} '
                f'(n_ctx={self.n_ctx}, class_specific={self.class_specific}'
                '). Set n_ctx / ctx_init / class_specific / num_classes in '
                'the config to match the checkpoint.')
        super()._load_from_state_dict(state_dict, prefix, local_metadata,
                                      strict, missing_keys, unexpected_keys,
                                      error_msgs)
