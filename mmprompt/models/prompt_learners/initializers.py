# Copyright (c) mmprompt contributors. All rights reserved.
"""Initial values of learnable prompt tokens, usable by any prompt learner.

An initialiser is called as ``init(text_encoder, num_tokens)`` and returns a
float tensor ``(num_tokens, width)`` on the CPU. Random draws use torch's
global generator, which mmengine seeds from ``randomness.seed`` (as for every
other parameter initialisation).

* :class:`PhrasePromptInit`: the token embeddings of a phrase (CoOp's
  ``'a photo of a'``).
* :class:`RandomPromptInit`: ``N(0, std^2)`` (CoOp's random init, DAPT).
* :class:`SameSTPromptInit` / :class:`DiffSTPromptInit`: the
  "ST-initialisation" of RPO (Lee et al., ICCV 2023) studied in the DAPT
  initialisation seed: CLIP's end-of-text token embedding plus noise, one
  noise draw shared by all tokens (``same_st``: the tokens start identical)
  or one per token (``diff_st``).
"""
from typing import Optional

import torch
import torch.nn.functional as F

from mmprompt.registry import MODELS

_NOISES = ('unit', 'gaussian')


class BasePromptInit:
    """Interface: ``init(text_encoder, num_tokens) -> (num_tokens, width)``.
    """

    def default_num_tokens(self, text_encoder) -> Optional[int]:
        """Token count the initialiser implies (None: no preference)."""
        return None

    def __call__(self, text_encoder, num_tokens: int) -> torch.Tensor:
        raise NotImplementedError


@MODELS.register_module()
class PhrasePromptInit(BasePromptInit):
    """The token embeddings of ``phrase`` (without start/end tokens).

    Fewer tokens than the phrase has give its first ones (MaPLe learns
    "a photo" of "a photo of a").

    Args:
        phrase (str): The phrase. Defaults to 'a photo of a'.
    """

    def __init__(self, phrase: str = 'a photo of a'):
        if not isinstance(phrase, str) or not phrase.strip():
            raise ValueError(f'PhrasePromptInit: phrase must be a non-empty '
                             f'str, but got {phrase!r}.')
        self.phrase = phrase

    def default_num_tokens(self, text_encoder) -> int:
        return len(text_encoder.encode_words(self.phrase))

    def __call__(self, text_encoder, num_tokens: int) -> torch.Tensor:
        count = self.default_num_tokens(text_encoder)
        if num_tokens > count:
            raise ValueError(
                f'PhrasePromptInit: {num_tokens} tokens requested but the '
                f'phrase {self.phrase!r} has {count}; drop n_ctx or change '
                'the phrase.')
        with torch.no_grad():
            tokens = text_encoder.tokenize(self.phrase)
            embeds = text_encoder.embed(tokens)[0, 1:1 + num_tokens]
        return embeds.detach().float().cpu().clone()


@MODELS.register_module()
class RandomPromptInit(BasePromptInit):
    """Independent ``N(0, std^2)`` entries.

    Args:
        std (float): Standard deviation. Defaults to 0.02.
    """

    def __init__(self, std: float = 0.02):
        self.std = std

    def __call__(self, text_encoder, num_tokens: int) -> torch.Tensor:
        return torch.randn(num_tokens, text_encoder.width) * self.std


class _STPromptInit(BasePromptInit):
    """EOS embedding + noise (see the module docstring).

    Args:
        scale (float): Noise scale: the norm of the noise vector for
            ``noise='unit'`` (RPO: a unit-normalised Gaussian vector scaled
            by 0.1), the per-entry std for ``'gaussian'``. Defaults to 0.1.
        noise (str): ``'unit'`` or ``'gaussian'``. Defaults to 'unit'.
    """

    shared_noise = False

    def __init__(self, scale: float = 0.1, noise: str = 'unit'):
        if noise not in _NOISES:
            raise ValueError(f'{type(self).__name__}: noise must be one of '
                             f'{_NOISES}, but got {noise!r}.')
        self.scale = scale
        self.noise = noise

    def __call__(self, text_encoder, num_tokens: int) -> torch.Tensor:
        with torch.no_grad():
            eos = text_encoder.token_embedding.weight[
                text_encoder.eot_token_id].detach().float().cpu()
        draws = 1 if self.shared_noise else num_tokens
        noise = torch.randn(draws, eos.numel())
        if self.noise == 'unit':
            noise = F.normalize(noise, dim=-1)
        noise = (noise * self.scale).expand(num_tokens, -1)
        return eos.expand(num_tokens, -1) + noise


@MODELS.register_module()
class SameSTPromptInit(_STPromptInit):
    """Every token = EOS embedding + one shared noise draw (``same_st``)."""

    shared_noise = True


@MODELS.register_module()
class DiffSTPromptInit(_STPromptInit):
    """Token i = EOS embedding + its own noise draw (``diff_st``)."""

    shared_noise = False


def build_prompt_init(init) -> BasePromptInit:
    """An initialiser from a phrase, None (random), a config or an object.

    Args:
        init (str | dict | BasePromptInit | None): ``'a photo of a'`` ->
            :class:`PhrasePromptInit`; None -> :class:`RandomPromptInit`;
            a dict is built from ``MODELS``.

    Returns:
        BasePromptInit: The initialiser.
    """
    if init is None:
        return RandomPromptInit()
    if isinstance(init, str):
        return PhrasePromptInit(init)
    if isinstance(init, dict):
        init = MODELS.build(init)
    if not isinstance(init, BasePromptInit):
        raise TypeError('a prompt init must be a phrase, None, a config '
                        'dict or a BasePromptInit, but got '
                        f'{type(init).__name__}.')
    return init
