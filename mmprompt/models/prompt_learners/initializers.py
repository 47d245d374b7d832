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
  or one per token (``diff_st``). Two noise forms: ``noise='unit'`` (alias
  ``'rpo'``; the default, RPO's code: a Gaussian vector normalised to unit
  norm and scaled by ``scale`` = 0.1) or ``noise='gaussian'`` (the seed's
  Algorithm 1: ``N(0, sigma^2 I)`` with ``sigma = std``, or ``scale`` if no
  ``std`` is given).
"""
import re
from typing import List, Optional, Tuple

import torch
import torch.nn.functional as F

from mmprompt.errors import ConfigError
from mmprompt.registry import TASK_UTILS
from ..clip import OpenCLIPTextEncoder as TextEncoder

_NOISES = ('unit', 'rpo', 'gaussian')


class BasePromptInit:
    """Interface: ``init(text_encoder, num_tokens) -> (num_tokens, width)``.
    """

    def default_num_tokens(self, text_encoder: TextEncoder) -> Optional[int]:
        """Token count the initialiser implies (None: no preference)."""
        return None

    def __call__(self, text_encoder: TextEncoder,
                 num_tokens: int) -> torch.Tensor:
        raise NotImplementedError


@TASK_UTILS.register_module()
class PhrasePromptInit(BasePromptInit):
    """The token embeddings of ``phrase`` (without start/end tokens).

    Fewer tokens than the phrase has give its first ones (MaPLe learns
    "a photo" of "a photo of a").

    Args:
        phrase (str): The phrase. Defaults to 'a photo of a'.
    """

    def __init__(self, phrase: str = 'a photo of a'):
        if not isinstance(phrase, str) or not phrase.strip():
            raise ConfigError(f'PhrasePromptInit: phrase must be a non-empty '
                              f'str, but got {phrase!r}.')
        self.phrase = phrase

    def default_num_tokens(self, text_encoder: TextEncoder) -> int:
        return len(text_encoder.encode_words(self.phrase))

    def word_tokens(self, text_encoder: TextEncoder) -> List[Tuple[str, int]]:
        """The phrase's words (split at white space, as CoOp counts them)
        and how many tokens each becomes.

        Examples:
            ``'a photo of a high-resolution'`` -> ``[('a', 1), ('photo',
            1), ('of', 1), ('a', 1), ('high-resolution', 3)]``.
        """
        return [(word, len(text_encoder.encode_words(word)))
                for word in re.split(r'\s+', self.phrase.strip())]

    def __call__(self, text_encoder: TextEncoder,
                 num_tokens: int) -> torch.Tensor:
        count = self.default_num_tokens(text_encoder)
        if num_tokens > count:
            raise ConfigError(
                f'PhrasePromptInit: {num_tokens} tokens requested but the '
                f'phrase {self.phrase!r} has {count}; drop n_ctx or change '
                'the phrase.')
        with torch.no_grad():
            tokens = text_encoder.tokenize(self.phrase)
            embeds = text_encoder.embed(tokens)[0, 1:1 + num_tokens]
        return embeds.detach().float().cpu().clone()


@TASK_UTILS.register_module()
class RandomPromptInit(BasePromptInit):
    """Independent ``N(0, std^2)`` entries.

    Args:
        std (float): Standard deviation. Defaults to 0.02.
    """

    def __init__(self, std: float = 0.02):
        self.std = std

    def __call__(self, text_encoder: TextEncoder,
                 num_tokens: int) -> torch.Tensor:
        return torch.randn(num_tokens, text_encoder.width) * self.std


def end_of_text_id(text_encoder: TextEncoder) -> int:
    """The end-of-text token id the text encoder pools its features at.

    Read from the tokenizer itself: the empty text tokenises to
    ``[SOT, EOT, pad ...]`` and the encoder takes the feature at the argmax
    of the ids, which is the EOT. The encoder's ``eot_token_id`` must agree;
    a different id (e.g. the start token's) would silently initialise
    ST prompts from the wrong embedding, so it raises.

    Args:
        text_encoder (OpenCLIPTextEncoder): The text encoder.

    Returns:
        int: The end-of-text token id.

    Raises:
        RuntimeError: ``text_encoder.eot_token_id`` is not that id.
    """
    ids = text_encoder.tokenize('')[0]
    eot = int(ids[ids.argmax()])
    claimed = getattr(text_encoder, 'eot_token_id', eot)
    if claimed != eot:
        raise RuntimeError(
            f'{type(text_encoder).__name__}.eot_token_id is {claimed}, but '
            f'its tokenizer ends a text with token {eot} (the token the '
            'features are pooled at); the ST initialisations would start '
            f'from the embedding of token {claimed} instead of the '
            "end-of-text token. Fix the encoder's eot_token_id.")
    return eot


class _STPromptInit(BasePromptInit):
    """EOS embedding + noise (see the module docstring).

    Args:
        scale (float): Noise scale: the norm of the noise vector for
            ``noise='unit'`` (RPO: a unit-normalised Gaussian vector scaled
            by 0.1), the per-entry std for ``'gaussian'`` unless ``std`` is
            given. Defaults to 0.1.
        noise (str): ``'unit'`` (or its alias ``'rpo'``) or ``'gaussian'``
            (the DAPT seed's ``N(0, std^2 I)``). Defaults to 'unit'.
        std (float, optional): The per-entry std ``sigma`` of
            ``noise='gaussian'``; defaults to ``scale``. Not used by
            ``'unit'`` noise. Defaults to None.
    """

    shared_noise = False

    def __init__(self,
                 scale: float = 0.1,
                 noise: str = 'unit',
                 std: Optional[float] = None):
        name = type(self).__name__
        if noise not in _NOISES:
            raise ConfigError(f'{name}: noise must be one of {_NOISES}, but '
                              f'got {noise!r}.')
        if std is not None and noise != 'gaussian':
            raise ConfigError(
                f"{name}: std={std} is the per-entry sigma of "
                f"noise='gaussian', but noise={noise!r} (a unit vector times "
                "scale); set noise='gaussian' or give scale instead.")
        for field, value in (('scale', scale), ('std', std)):
            if value is not None and (not isinstance(value, (int, float))
                                      or value < 0):
                raise ConfigError(f'{name}: {field} must be a number >= 0, '
                                  f'but got {value!r}.')
        self.noise = 'unit' if noise == 'rpo' else noise
        self.scale = scale
        self.std = scale if std is None else std

    def __call__(self, text_encoder: TextEncoder,
                 num_tokens: int) -> torch.Tensor:
        eot = end_of_text_id(text_encoder)
        with torch.no_grad():
            eos = text_encoder.token_embedding.weight[eot].detach().float(
            ).cpu()
        draws = 1 if self.shared_noise else num_tokens
        noise = torch.randn(draws, eos.numel())
        if self.noise == 'unit':
            noise = F.normalize(noise, dim=-1) * self.scale
        else:
            noise = noise * self.std
        return eos.expand(num_tokens, -1) + noise.expand(num_tokens, -1)


@TASK_UTILS.register_module()
class SameSTPromptInit(_STPromptInit):
    """Every token = EOS embedding + one shared noise draw (``same_st``)."""

    shared_noise = True


@TASK_UTILS.register_module()
class DiffSTPromptInit(_STPromptInit):
    """Token i = EOS embedding + its own noise draw (``diff_st``)."""

    shared_noise = False


def build_prompt_init(init) -> BasePromptInit:
    """An initialiser from a phrase, None (random), a config or an object.

    Args:
        init (str | dict | BasePromptInit | None): ``'a photo of a'`` ->
            :class:`PhrasePromptInit`; None -> :class:`RandomPromptInit`;
            a dict is built from ``TASK_UTILS``.

    Returns:
        BasePromptInit: The initialiser.
    """
    if init is None:
        return RandomPromptInit()
    if isinstance(init, str):
        return PhrasePromptInit(init)
    if isinstance(init, dict):
        init = TASK_UTILS.build(init)
    if not isinstance(init, BasePromptInit):
        raise TypeError('a prompt init must be a phrase, None, a config '
                        'dict or a BasePromptInit, but got '
                        f'{type(init).__name__}.')
    return init
