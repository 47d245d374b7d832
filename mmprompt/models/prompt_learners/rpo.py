# Copyright (c) mmprompt contributors. All rights reserved.
"""RPO's read-only prompts (Lee et al., ICCV 2023).

Follows the official code, mlvlab/RPO ``trainers/rpo.py``
(``PromptLearner.initialization_token`` and ``CustomCLIP.forward``); the
attention mask and the towers' side are :class:`ReadOnlyTokens` in
``mmprompt/models/clip``.
"""
from typing import Optional, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmprompt.errors import ConfigError
from mmprompt.models.clip import READONLY_ATTENTION
from mmprompt.models.clip import OpenCLIPTextEncoder as TextEncoder
from mmprompt.models.clip import ReadOnlyTokens
from mmprompt.registry import MODELS
from .base import BasePromptLearner
from .initializers import (BasePromptInit, DiffSTPromptInit, RandomPromptInit,
                           SameSTPromptInit, build_prompt_init)

#: RPO's initialisation of both towers' prompts: the special token's
#: embedding plus a unit-norm Gaussian direction times 0.1, one per token.
RPO_INIT = dict(type='DiffSTPromptInit', scale=0.1, noise='unit')


def init_around(init: BasePromptInit, base: torch.Tensor,
                num_tokens: int) -> torch.Tensor:
    """``num_tokens`` tokens from an ST or random initialiser around
    ``base`` (any tower's special-token embedding, ``(width, )``).

    :class:`SameSTPromptInit` / :class:`DiffSTPromptInit` add their noise
    to ``base`` exactly as they do to the text EOS embedding;
    :class:`RandomPromptInit` ignores ``base`` (``N(0, std^2)``, the
    alternative RPO's code leaves commented out).
    """
    width = base.numel()
    check_vision_init(init)
    if isinstance(init, RandomPromptInit):
        return torch.randn(num_tokens, width) * init.std
    noise = torch.randn(1 if init.shared_noise else num_tokens, width)
    if init.noise == 'unit':
        noise = F.normalize(noise, dim=-1) * init.scale
    else:
        noise = noise * init.std
    return base.detach().float().cpu() + noise.expand(num_tokens, -1)


def check_vision_init(init: BasePromptInit) -> None:
    """Raise unless ``init`` can initialise visual tokens."""
    if not isinstance(init,
                      (SameSTPromptInit, DiffSTPromptInit, RandomPromptInit)):
        raise ConfigError(
            f'vision_init must be a SameSTPromptInit, DiffSTPromptInit or '
            f'RandomPromptInit config, not {type(init).__name__} (a phrase '
            'has no visual tokens).')


@MODELS.register_module()
class RPOPromptLearner(BasePromptLearner):
    """Read-only prompts in both towers (RPO, Lee et al., ICCV 2023).

    ``K`` text prompts are appended to every class text (the fixed
    ``template``, RPO: ``"a photo of a {class}."`` on every dataset) and
    ``K`` visual prompts to every image's tokens, as
    :class:`ReadOnlyTokens`: no original token attends to them (the
    towers' own features stay exactly CLIP's), each prompt attends to the
    original tokens only (up to the EOT in the text; not to itself or the
    other prompts, ``among='none'``) and gets no positional embedding.
    Prompt ``i``'s text output (after ``ln_final`` and the projection) and
    its visual output (after ``ln_post`` and the projection) make the
    ``i``-th pair; :class:`~mmprompt.models.heads.RPOHead` averages the
    logits of the ``K`` pairs.

    Initialisation (ST): text prompts = the EOS token embedding, visual
    prompts = the CLS token embedding (the class embedding, without its
    positional embedding), each plus its own unit-norm Gaussian direction
    scaled by 0.1 (``DiffSTPromptInit(scale=0.1, noise='unit')``, RPO's
    ``initialization_token``). Any ST initialiser (``same_st`` /
    ``diff_st``, ``'unit'`` or ``'gaussian'`` noise) or
    ``RandomPromptInit`` can replace it in either tower.

    The image encoder's sizes are read when ``VLPromptClassifier`` binds it
    (:meth:`bind_image_encoder`); give ``image_encoder`` to build the
    learner on its own.

    Args:
        text_encoder (OpenCLIPTextEncoder): The head's text encoder.
        image_encoder (OpenCLIPImageEncoder, optional): The backbone.
            Defaults to None (bound later).
        num_prompts (int): ``K``, the prompt pairs (official base-to-new
            and ImageNet configs: 24; ``main_K4``: 4). Defaults to 24.
        template (str): The fixed class text, ``'{}'`` for the class name,
            or ``'dataset'`` for the dataset's hand-crafted template.
            Defaults to 'a photo of a {}.'.
        text_init (str | dict): Text prompt initialiser (see
            ``initializers.py``). Defaults to :data:`RPO_INIT`.
        vision_init (dict): Visual prompt initialiser, applied around the
            CLS embedding. Defaults to :data:`RPO_INIT`.
        among (str): What a prompt attends to among the prompts of its
            tower: ``'none'`` (RPO), ``'self'`` or ``'all'``.
            Defaults to 'none'.
        init_cfg (dict, optional): Unused. Defaults to None.

    Shapes:
        ``text_prompts``: ``(K, text_width)``; ``vision_prompts``:
        ``(K, vision_width)``; :meth:`forward` returns the
        ``(num_classes, K, embed_dim)`` prompt features.
    """

    def __init__(self,
                 text_encoder: TextEncoder,
                 image_encoder=None,
                 num_prompts: int = 24,
                 template: str = 'a photo of a {}.',
                 text_init: Union[str, dict, BasePromptInit] = RPO_INIT,
                 vision_init: Union[dict, BasePromptInit] = RPO_INIT,
                 among: str = 'none',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        name = type(self).__name__
        is_int = isinstance(num_prompts,
                            int) and not isinstance(num_prompts, bool)
        if not is_int or num_prompts < 1:
            raise ConfigError(
                f'{name}: num_prompts={num_prompts!r}; RPO needs K >= 1 '
                'read-only prompt pairs (the official configs use 24).')
        if among not in READONLY_ATTENTION:
            raise ConfigError(f'{name}: among={among!r}; choose one of '
                              f'{READONLY_ATTENTION}.')
        if not isinstance(template, str) or (template != 'dataset'
                                             and '{}' not in template):
            raise ConfigError(
                f"{name}: template={template!r} needs a '{{}}' for the class "
                "name (e.g. 'a photo of a {}.'), or 'dataset'.")
        self.num_prompts = num_prompts
        self.template = template
        self.among = among
        self.text_init = build_prompt_init(text_init)
        self.vision_init = build_prompt_init(vision_init)
        check_vision_init(self.vision_init)
        self.text_prompts = nn.Parameter(
            self.text_init(text_encoder, num_prompts).to(text_encoder.device))
        self.vision_prompts = None
        self._vision_width = None
        self.tokens = None
        self.embeddings = None
        if image_encoder is not None:
            self.bind_image_encoder(image_encoder)

    def bind_image_encoder(self, image_encoder) -> None:
        """Create the visual prompts around the tower's CLS embedding.

        Binding again to a tower of the same width keeps them.

        Raises:
            NotImplementedError: the image tower is not a vision
                transformer.
            ConfigError: the learner was bound to a tower of another width.
        """
        width = image_encoder.width
        if self._vision_width is not None:
            if width != self._vision_width:
                raise ConfigError(
                    f'{type(self).__name__} was bound to a vision tower of '
                    f'width {self._vision_width}, not {width}.')
            return
        cls = image_encoder.class_embedding
        self.vision_prompts = nn.Parameter(
            init_around(self.vision_init, cls,
                        self.num_prompts).to(cls.device))
        self._vision_width = width

    def set_class_names(self,
                        classnames,
                        text_encoder: TextEncoder,
                        template: Optional[str] = None,
                        dataset_name: Optional[str] = None) -> None:
        if self.template == 'dataset':
            if not template:
                raise ConfigError(
                    f"{type(self).__name__}: template='dataset' but the "
                    'dataset has no template; give the template itself.')
            fmt = template
        else:
            fmt = self.template
        texts = [fmt.format(self.prompt_name(n)) for n in classnames]
        with torch.no_grad():
            tokens = text_encoder.tokenize(texts)
            length = int(tokens.argmax(dim=-1).max()) + 1
            tokens = tokens[:, :length]
            embeddings = text_encoder.embed(tokens).detach()
        self.check_vocabulary(text_encoder, [tokens], texts)
        self.tokens = tokens
        self.embeddings = embeddings
        self.classnames = list(classnames)

    def text_parameters(self):
        """Only the text prompts change the class text features."""
        return [self.text_prompts]

    def visual_prompts(self) -> ReadOnlyTokens:
        """The visual read-only prompts for the image encoder."""
        if self.vision_prompts is None:
            raise RuntimeError(
                f'{type(self).__name__} has no visual prompts: no image '
                "encoder is bound; use model type='VLPromptClassifier' (it "
                'binds its backbone) or pass image_encoder=.')
        return ReadOnlyTokens(self.vision_prompts, self.among)

    def forward(self, text_encoder: TextEncoder) -> torch.Tensor:
        """The ``(num_classes, K, embed_dim)`` text prompt features."""
        self._check_bound()
        embeddings = self.embeddings.to(self.text_prompts.device)
        _, feats = text_encoder(
            embeddings,
            self.tokens.to(embeddings.device),
            readonly=ReadOnlyTokens(self.text_prompts, self.among))
        return feats
