# Copyright (c) mmprompt contributors. All rights reserved.
from typing import Optional, Union

import torch
import torch.nn as nn

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from ..clip import OpenCLIPTextEncoder as TextEncoder
from .coop import CoOpPromptLearner


@MODELS.register_module()
class CoCoOpPromptLearner(CoOpPromptLearner):
    """CoOp's context shifted by a bias computed from each image.

    Zhou, Yang, Loy and Liu, "Conditional Prompt Learning for
    Vision-Language Models", CVPR 2022. A small meta-net
    ``Linear(D, D // reduction) -> ReLU -> Linear(D // reduction, width)``
    maps the L2-normalised image feature ``x`` to a bias ``pi(x)`` that is
    added to every context vector, so each image gets its own prompts
    ``[SOS] [V_1 + pi(x)] .. [V_M + pi(x)] [CLASS] . [EOS]`` for every
    class (:meth:`conditional_features`). The meta-net uses PyTorch's
    default ``nn.Linear`` init, as CoCoOp's code does.

    :meth:`forward` (the contract of every text learner) gives the features
    of the unshifted context, ``pi = 0``; the CoCoOp head classifies with
    the conditional ones.

    Args:
        text_encoder (OpenCLIPTextEncoder): The head's text encoder; its
            ``embed_dim`` sizes the meta-net input and ``width`` its output.
        n_ctx (int, optional): See :class:`CoOpPromptLearner`.
        ctx_init (str | dict, optional): See :class:`CoOpPromptLearner`.
            Defaults to 'a photo of a'.
        reduction (int): Hidden width of the meta-net is
            ``embed_dim // reduction``. Defaults to 16.
        class_token_position (str): See :class:`CoOpPromptLearner`.
        init_std (float): Std of a random context init. Defaults to 0.02.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    def __init__(self,
                 text_encoder: TextEncoder,
                 n_ctx: Optional[int] = None,
                 ctx_init: Union[str, dict, None] = 'a photo of a',
                 reduction: int = 16,
                 class_token_position: str = 'end',
                 init_std: float = 0.02,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            text_encoder,
            n_ctx=n_ctx,
            ctx_init=ctx_init,
            class_token_position=class_token_position,
            init_std=init_std,
            init_cfg=init_cfg)
        dim = text_encoder.embed_dim
        if not isinstance(reduction, int) or not 1 <= reduction <= dim:
            raise ConfigError(
                f'CoCoOpPromptLearner: reduction={reduction!r} must be an '
                f'int in [1, {dim}] (the meta-net hidden width is '
                f'embed_dim // reduction = {dim} // reduction).')
        self.meta_net = nn.Sequential(
            nn.Linear(dim, dim // reduction), nn.ReLU(inplace=True),
            nn.Linear(dim // reduction,
                      text_encoder.width)).to(text_encoder.device)

    def conditional_features(self, text_encoder: TextEncoder,
                             image: torch.Tensor) -> torch.Tensor:
        """Class text features conditioned on each image.

        Args:
            text_encoder (OpenCLIPTextEncoder): The head's text encoder.
            image (torch.Tensor): ``(B, embed_dim)`` L2-normalised image
                features.

        Returns:
            torch.Tensor: ``(B, num_classes, embed_dim)`` features (not
            normalised), from one text pass over ``B * num_classes``
            prompts.
        """
        self._check_bound()
        bias = self.meta_net(image.to(self.ctx.dtype))
        ctx = self.ctx.unsqueeze(0) + bias.unsqueeze(1)  # (B, M, width)
        prompts = torch.cat([self.assemble(c) for c in ctx])
        tokens = self.tokens.to(prompts.device).repeat(len(image), 1)
        return text_encoder(prompts,
                            tokens).view(len(image), self.num_classes, -1)
