# Copyright (c) mmprompt contributors. All rights reserved.
"""Deep prompts in both towers: IVLP, MaPLe, VPT-deep and DAPT.

One learner, :class:`VLPromptLearner`, owns every prompt of a method: the
text context (CoOp's, at the input), deep text prompts that replace the
context before later blocks, and visual prompts for the image encoder, either
free parameters or mapped from the text prompts (MaPLe's coupling). The head
feeds the text side to the text encoder as usual; :meth:`visual_prompts`
gives the image side, which ``VLPromptClassifier`` passes to the backbone.
The named methods are presets of it.
"""
import copy
import math
from typing import List, Optional, Union

import torch
import torch.nn as nn

from mmprompt.errors import ConfigError
from mmprompt.models.clip import VISION_PROMPT_POSITIONS
from mmprompt.models.clip import OpenCLIPTextEncoder as TextEncoder
from mmprompt.models.clip import VisualPrompts
from mmprompt.registry import MODELS
from .coop import CoOpPromptLearner

_VISION_INITS = ('normal', 'uniform')


@MODELS.register_module()
class VLPromptLearner(CoOpPromptLearner):
    """Deep vision-language prompts (independent, or coupled as in MaPLe).

    Text side: ``n_ctx`` context vectors after the start token (as in
    :class:`CoOpPromptLearner`; a phrase init may be longer than ``n_ctx``:
    its first ``n_ctx`` tokens are learned and the rest stays frozen text
    before the class name, e.g. MaPLe's ``"[a photo] of a {class}."``), and
    for blocks ``1 .. text_depth - 1`` a fresh ``(n_ctx, width)`` prompt,
    ``N(0, init_std^2)``, that replaces the context positions before that
    block. ``n_ctx=0`` keeps the text fixed (VPT: ``"a photo of a
    {class}."``).

    Vision side: ``n_vision_ctx`` tokens inserted at ``vision_position`` and,
    for blocks ``1 .. vision_depth - 1``, replaced by that layer's own
    prompts. With ``coupling=True`` (MaPLe) there are no free visual
    prompts: layer ``i``'s visual prompts are ``Linear_i(text prompt of
    layer i)`` (text width -> vision width), so both towers are trained
    through the text prompts.

    The vision tower's sizes are read from the image encoder, which
    ``VLPromptClassifier`` binds (:meth:`bind_image_encoder`); give
    ``image_encoder`` to build the learner on its own.

    Args:
        text_encoder (OpenCLIPTextEncoder): The head's text encoder.
        image_encoder (OpenCLIPImageEncoder, optional): The backbone.
            Defaults to None (bound later).
        n_ctx (int, optional): Text context vectors (0: fixed text).
            Defaults to 2.
        ctx_init (str | dict, optional): Text context init (phrase, None for
            ``N(0, init_std^2)``, or an initialiser config, see
            ``initializers.py``). Defaults to 'a photo of a'.
        text_depth (int): Layers with text prompts (1: input only).
            Defaults to 1.
        n_vision_ctx (int): Visual prompt tokens. Defaults to 2.
        vision_depth (int): Layers with visual prompts (0: none).
            Defaults to 0.
        vision_position (str): ``'append'`` (after the patch tokens: MaPLe,
            IVLP, VPT in MaPLe's code) or ``'after_cls'`` (DAPT). See
            :class:`VisualPrompts`. Defaults to 'append'.
        vision_init (str): ``'normal'``: ``N(0, init_std^2)``;
            ``'uniform'``: VPT's ``U(-v, v)`` with
            ``v = sqrt(6 / (3 * patch_h * patch_w + width))`` (DAPT).
            Defaults to 'normal'.
        coupling (bool): Map text prompts to visual prompts (MaPLe); needs
            ``text_depth == vision_depth`` and ``n_vision_ctx == n_ctx``.
            Defaults to False.
        init_std (float): Std of the normal inits. Defaults to 0.02.
        init_cfg (dict, optional): Unused. Defaults to None.

    Shapes:
        ``ctx``: ``(n_ctx, text_width)``; ``deep_text_prompts[j]``:
        ``(n_ctx, text_width)`` for block ``j + 1``; ``vision_prompts[i]``:
        ``(n_vision_ctx, vision_width)``; ``coupling[i]``:
        ``Linear(text_width, vision_width)``.
    """

    def __init__(self,
                 text_encoder: TextEncoder,
                 image_encoder=None,
                 n_ctx: Optional[int] = 2,
                 ctx_init: Union[str, dict, None] = 'a photo of a',
                 text_depth: int = 1,
                 n_vision_ctx: int = 2,
                 vision_depth: int = 0,
                 vision_position: str = 'append',
                 vision_init: str = 'normal',
                 coupling: bool = False,
                 init_std: float = 0.02,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            text_encoder,
            n_ctx=n_ctx,
            ctx_init=ctx_init,
            init_std=init_std,
            init_cfg=init_cfg)
        name = type(self).__name__
        if vision_position not in VISION_PROMPT_POSITIONS:
            raise ConfigError(f'{name}: vision_position={vision_position!r}; '
                              f'choose one of {VISION_PROMPT_POSITIONS}.')
        if vision_init not in _VISION_INITS:
            raise ConfigError(f'{name}: vision_init={vision_init!r}; choose '
                              f'one of {_VISION_INITS}.')
        if text_depth < 1 or vision_depth < 0:
            raise ConfigError(
                f'{name}: text_depth={text_depth} must be >= 1 (the input '
                f'context) and vision_depth={vision_depth} >= 0.')
        if self.n_ctx == 0 and text_depth > 1:
            raise ConfigError(f'{name}: deep text prompts (text_depth='
                              f'{text_depth}) need n_ctx > 0.')
        layers = len(text_encoder.transformer.resblocks)
        if text_depth > layers:
            raise ConfigError(
                f'{name}: text_depth={text_depth} but the text encoder has '
                f'{layers} blocks.')
        if coupling and (text_depth != vision_depth
                         or n_vision_ctx != self.n_ctx):
            raise ConfigError(
                f'{name}: coupling maps each layer\'s text prompts to visual '
                'prompts, so it needs text_depth == vision_depth and '
                f'n_vision_ctx == n_ctx (got {text_depth} / {vision_depth} '
                f'and {n_vision_ctx} / {self.n_ctx}).')
        self.deep_text_prompts = nn.ParameterList([
            nn.Parameter(
                torch.randn(self.n_ctx, text_encoder.width) * init_std)
            for _ in range(text_depth - 1)
        ]).to(text_encoder.device)
        self.text_depth = text_depth
        self.n_vision_ctx = n_vision_ctx
        self.vision_depth = vision_depth
        self.vision_position = vision_position
        self.vision_init = vision_init
        self.coupling_enabled = coupling
        self.init_std = init_std
        self.text_width = text_encoder.width
        self.vision_prompts = None
        self.coupling = None
        self._vision_sizes = None
        if image_encoder is not None:
            self.bind_image_encoder(image_encoder)

    def _check_n_ctx(self, n_ctx, implied, ctx_init) -> None:
        """A phrase may be longer than the context (the rest stays text)."""
        if n_ctx is not None and n_ctx < 0:
            raise ConfigError(f'n_ctx={n_ctx} must be >= 0.')
        if n_ctx is not None and implied is not None and n_ctx > implied:
            raise ConfigError(
                f'n_ctx={n_ctx} but ctx_init={ctx_init!r} has only {implied} '
                'tokens; lower n_ctx or use a longer phrase.')

    def bind_image_encoder(self, image_encoder) -> None:
        """Create the visual prompts (or coupling) for ``image_encoder``.

        Called by ``VLPromptClassifier`` with its backbone. Binding again to
        a tower of the same sizes keeps the existing parameters.

        Raises:
            ValueError: the prompt depth exceeds the tower's blocks, or the
                learner is bound to a tower of other sizes.
        """
        if self.vision_depth == 0:
            return
        sizes = (image_encoder.width, image_encoder.num_layers,
                 image_encoder.patch_size)
        if self._vision_sizes is not None:
            if sizes != self._vision_sizes:
                raise ConfigError(
                    f'{type(self).__name__} was bound to a vision tower of '
                    f'(width, blocks, patch) {self._vision_sizes}, not '
                    f'{sizes}.')
            return
        width, num_layers, patch = sizes
        if self.vision_depth > num_layers:
            raise ConfigError(
                f'{type(self).__name__}: vision_depth={self.vision_depth} '
                f'but the vision transformer of {image_encoder.model_name!r} '
                f'has {num_layers} blocks.')
        device = next(image_encoder.parameters()).device
        if self.coupling_enabled:
            # MaPLe: one projection for the input prompts, and clones of one
            # freshly initialised projection for the deeper layers.
            deep = nn.Linear(self.text_width, width)
            self.coupling = nn.ModuleList(
                [nn.Linear(self.text_width, width)] +
                [copy.deepcopy(deep) for _ in range(self.vision_depth - 1)])
            self.coupling.to(device)
        else:
            self.vision_prompts = nn.ParameterList([
                nn.Parameter(self._init_vision(width, patch))
                for _ in range(self.vision_depth)
            ]).to(device)
        self._vision_sizes = sizes

    def _init_vision(self, width: int, patch) -> torch.Tensor:
        prompts = torch.empty(self.n_vision_ctx, width)
        if self.vision_init == 'uniform':
            bound = math.sqrt(6.0 / (3 * patch[0] * patch[1] + width))
            return nn.init.uniform_(prompts, -bound, bound)
        return nn.init.normal_(prompts, std=self.init_std)

    def _check_vision_bound(self):
        if self.vision_depth and self._vision_sizes is None:
            raise RuntimeError(
                f'{type(self).__name__} has visual prompts '
                f'(vision_depth={self.vision_depth}) but no image encoder is '
                "bound; use model type='VLPromptClassifier' (it binds its "
                'backbone) or pass image_encoder=.')

    def text_prompts(self) -> List[torch.Tensor]:
        """The text prompts of layers ``0 .. text_depth - 1``."""
        return ([self.ctx] if self.ctx is not None else []) + list(
            self.deep_text_prompts)

    def text_parameters(self) -> List[torch.Tensor]:
        """The text prompts only: visual prompts and the coupling do not
        change the class text features."""
        return self.text_prompts()

    def visual_prompts(self) -> Optional[VisualPrompts]:
        """The visual prompts for the image encoder (None without any)."""
        self._check_vision_bound()
        if self.vision_depth == 0:
            return None
        if self.coupling is not None:
            tokens = [
                proj(prompt)
                for proj, prompt in zip(self.coupling, self.text_prompts())
            ]
        else:
            tokens = list(self.vision_prompts)
        return VisualPrompts(tokens, self.vision_position)

    def forward(self, text_encoder: TextEncoder) -> torch.Tensor:
        self._check_vision_bound()
        if self.ctx is None:
            self._check_bound()
            prompts = torch.cat([self.prefix, self.suffix], dim=1)
        else:
            prompts = self.assemble(self.ctx)
        return text_encoder(
            prompts,
            self.tokens.to(prompts.device),
            deep_prompts=list(self.deep_text_prompts))


@MODELS.register_module()
class MaPLePromptLearner(VLPromptLearner):
    """MaPLe's coupled deep prompts (Khattak et al., CVPR 2023).

    Two context tokens learned from "a photo" of ``"a photo of a
    {class}."``, deep text prompts in blocks ``1 .. depth - 1``, and visual
    prompts mapped from the text prompts of each layer by its own
    ``Linear(text width -> vision width)``, appended after the patch tokens.

    Args:
        text_encoder (OpenCLIPTextEncoder): The head's text encoder.
        n_ctx (int): Context tokens in both towers. Defaults to 2.
        ctx_init (str | dict, optional): Text context init.
            Defaults to 'a photo of a'.
        depth (int): Prompt depth ``J`` of both towers. Defaults to 9.
        **kwargs: Other :class:`VLPromptLearner` arguments
            (``image_encoder``, ``init_std``).
    """

    def __init__(self,
                 text_encoder: TextEncoder,
                 n_ctx: int = 2,
                 ctx_init: Union[str, dict, None] = 'a photo of a',
                 depth: int = 9,
                 **kwargs):
        super().__init__(
            text_encoder,
            n_ctx=n_ctx,
            ctx_init=ctx_init,
            text_depth=depth,
            n_vision_ctx=n_ctx,
            vision_depth=depth,
            vision_position='append',
            coupling=True,
            **kwargs)


@MODELS.register_module()
class IVLPPromptLearner(VLPromptLearner):
    """Independent deep vision-language prompts (IVLP, MaPLe's baseline).

    Args:
        text_encoder (OpenCLIPTextEncoder): The head's text encoder.
        n_ctx (int): Text context tokens. Defaults to 2.
        n_vision_ctx (int): Visual prompt tokens. Defaults to 2.
        ctx_init (str | dict, optional): Text context init.
            Defaults to 'a photo of a'.
        depth (int): Prompt depth of both towers (the official config: 12).
            Defaults to 12.
        **kwargs: Other :class:`VLPromptLearner` arguments.
    """

    def __init__(self,
                 text_encoder: TextEncoder,
                 n_ctx: int = 2,
                 n_vision_ctx: int = 2,
                 ctx_init: Union[str, dict, None] = 'a photo of a',
                 depth: int = 12,
                 **kwargs):
        super().__init__(
            text_encoder,
            n_ctx=n_ctx,
            ctx_init=ctx_init,
            text_depth=depth,
            n_vision_ctx=n_vision_ctx,
            vision_depth=depth,
            **kwargs)


@MODELS.register_module()
class VPTDeepPromptLearner(VLPromptLearner):
    """VPT-deep on CLIP: visual prompts only, fixed text.

    Jia et al., "Visual Prompt Tuning", ECCV 2022, as MaPLe's code base runs
    it on CLIP: the text is the fixed ``"a photo of a {class}."`` and
    ``n_vision_ctx`` visual prompts per layer, ``N(0, 0.02^2)``.

    Args:
        text_encoder (OpenCLIPTextEncoder): The head's text encoder.
        n_vision_ctx (int): Visual prompt tokens. Defaults to 8.
        depth (int): Layers with visual prompts. Defaults to 12.
        phrase (str): The fixed text before the class name.
            Defaults to 'a photo of a'.
        **kwargs: Other :class:`VLPromptLearner` arguments.
    """

    def __init__(self,
                 text_encoder: TextEncoder,
                 n_vision_ctx: int = 8,
                 depth: int = 12,
                 phrase: str = 'a photo of a',
                 **kwargs):
        super().__init__(
            text_encoder,
            n_ctx=0,
            ctx_init=phrase,
            n_vision_ctx=n_vision_ctx,
            vision_depth=depth,
            **kwargs)


@MODELS.register_module()
class DAPTPromptLearner(VLPromptLearner):
    """DAPT's prompts (Cho et al., ICCV 2023): text context + VPT-shallow.

    16 text context vectors (``N(0, 0.02^2)`` by default, or any prompt
    initialiser: the seed's ``same_st`` / ``diff_st``) and 16 visual prompt
    tokens right after the CLS token, ``U(-v, v)`` with VPT's bound.

    Args:
        text_encoder (OpenCLIPTextEncoder): The head's text encoder.
        n_ctx (int): Text context tokens. Defaults to 16.
        ctx_init (str | dict, optional): Text context init (None: random).
            Defaults to None.
        n_vision_ctx (int): Visual prompt tokens. Defaults to 16.
        **kwargs: Other :class:`VLPromptLearner` arguments.
    """

    def __init__(self,
                 text_encoder: TextEncoder,
                 n_ctx: int = 16,
                 ctx_init: Union[str, dict, None] = None,
                 n_vision_ctx: int = 16,
                 **kwargs):
        kwargs.setdefault('vision_position', 'after_cls')
        kwargs.setdefault('vision_init', 'uniform')
        super().__init__(
            text_encoder,
            n_ctx=n_ctx,
            ctx_init=ctx_init,
            n_vision_ctx=n_vision_ctx,
            vision_depth=1,
            **kwargs)
