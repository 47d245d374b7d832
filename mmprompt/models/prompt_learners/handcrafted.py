# Copyright (c) mmprompt contributors. All rights reserved.
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F

from mmprompt.registry import MODELS
from .base import BasePromptLearner


@MODELS.register_module()
class HandcraftedPrompts(BasePromptLearner):
    """Zero-shot CLIP's hand-crafted prompts, one template or an ensemble.

    Each class feature is the mean of the L2-normalised text features of the
    class name written into every template (CLIP's prompt ensembling; with
    one template it is that template's feature). Nothing is learned.
    ``average='raw'`` averages the unnormalised features instead, as
    PromptSRC computes its frozen text targets.

    Args:
        templates (str | Sequence[str]): ``'dataset'`` for the dataset's own
            template (CoOp's per-dataset template, bound with the class
            names), a named set (``'imagenet80'``: CLIP's 80 ImageNet
            templates, ``'imagenet_select'``: CoOp's 7), a dataset name, one
            template string with ``{}``, or a list of them.
            Defaults to 'dataset'.
        text_encoder (nn.Module, optional): Unused; accepted for the
            prompt-learner contract. Defaults to None.
        average (str): ``'normalized'`` (CLIP's) or ``'raw'``: what is
            averaged over the templates. Defaults to 'normalized'.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    AVERAGES = ('normalized', 'raw')

    def __init__(self,
                 templates: Union[str, Sequence[str]] = 'dataset',
                 text_encoder=None,
                 average: str = 'normalized',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if average not in self.AVERAGES:
            raise ValueError(f'HandcraftedPrompts: average={average!r}; '
                             f'choose one of {self.AVERAGES}.')
        self.templates = templates
        self.average = average
        self._tokens = []

    def resolve_templates(self, template: Optional[str]) -> list:
        from mmprompt.datasets.templates import get_templates
        if self.templates == 'dataset':
            if not template:
                raise ValueError(
                    "HandcraftedPrompts(templates='dataset') needs a dataset "
                    "with a 'template' in its metainfo; this one has none. "
                    "Set templates to a template string such as "
                    "'a photo of a {}.' or to 'imagenet80'.")
            return [template]
        return list(get_templates(self.templates))

    def set_class_names(self,
                        classnames: Sequence[str],
                        text_encoder,
                        template: Optional[str] = None) -> None:
        templates = self.resolve_templates(template)
        names = [self.prompt_name(n) for n in classnames]
        self._tokens = []
        for tmpl in templates:
            tokens = text_encoder.tokenize([tmpl.format(n) for n in names])
            length = int(tokens.argmax(dim=-1).max()) + 1
            self._tokens.append(tokens[:, :length])
        self.classnames = list(classnames)

    def forward(self, text_encoder) -> torch.Tensor:
        self._check_bound()
        feats = 0
        for tokens in self._tokens:
            tokens = tokens.to(text_encoder.device)
            out = text_encoder(text_encoder.embed(tokens), tokens)
            feats = feats + (
                F.normalize(out, dim=-1) if self.average == 'normalized' else
                out)
        return feats / len(self._tokens)
