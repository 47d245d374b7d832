# Copyright (c) mmprompt contributors. All rights reserved.
from typing import Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmengine.logging import print_log

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from mmprompt.templates import COOP_TEMPLATES, get_templates
from ..clip import OpenCLIPTextEncoder as TextEncoder
from .base import BasePromptLearner


@MODELS.register_module()
class HandcraftedPrompts(BasePromptLearner):
    """Zero-shot CLIP's hand-crafted prompts, one template or an ensemble.

    Each class feature is the mean of the L2-normalised text features of the
    class name written into every template (CLIP's prompt ensembling; with
    one template it is that template's feature). Nothing is learned. The
    heads L2-normalise the mean again, so the logits are those of CoOp's
    ``ZeroshotCLIP2`` (normalise, average, normalise).
    ``average='raw'`` averages the unnormalised features instead, as
    PromptSRC computes its frozen text targets.

    Args:
        templates (str | Sequence[str]): ``'dataset'`` for the dataset's own
            template (CoOp's per-dataset template, bound with the class
            names), a named set (``'imagenet80'``: CLIP's 80 ImageNet
            templates, ``'imagenet_select'``: CoOp's 7), a set plus the
            dataset's template (``'imagenet_select+dataset'``: CoOp's
            ``ZeroshotCLIP2``, the 7 and the bound dataset's template, the
            7 alone on ImageNet; or a named dataset,
            ``'imagenet_select+EuroSAT'``), a dataset name, one template
            string with ``{}``, or a list of them. Defaults to 'dataset'.
        text_encoder (nn.Module, optional): Unused; accepted for the
            prompt-learner contract. Defaults to None.
        average (str): ``'normalized'`` (CLIP's) or ``'raw'``: what is
            averaged over the templates. Defaults to 'normalized'.
        init_cfg (dict, optional): Unused. Defaults to None.
    """

    AVERAGES = ('normalized', 'raw')

    def __init__(self,
                 templates: Union[str, Sequence[str]] = 'dataset',
                 text_encoder: Optional[TextEncoder] = None,
                 average: str = 'normalized',
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if average not in self.AVERAGES:
            raise ConfigError(f'HandcraftedPrompts: average={average!r}; '
                              f'choose one of {self.AVERAGES}.')
        self.templates = templates
        self.average = average
        self.resolved_templates = None
        self._tokens = []

    def resolve_templates(self,
                          template: Optional[str],
                          dataset_name: Optional[str] = None) -> list:
        """The templates for a dataset.

        Args:
            template (str, optional): The dataset's own template.
            dataset_name (str, optional): The dataset's CoOp name (for
                ``'<set>+dataset'``: ImageNet adds no template). Defaults to
                None.

        Returns:
            list[str]: The templates.
        """
        if self.templates == 'dataset':
            if not template:
                raise ConfigError(
                    "HandcraftedPrompts(templates='dataset') needs a dataset "
                    "with a 'template' in its metainfo; this one has none. "
                    "Set templates to a template string such as "
                    "'a photo of a {}.' or to 'imagenet80'.")
            return [template]
        return list(
            get_templates(
                self.templates, template=template, dataset_name=dataset_name))

    def set_class_names(self,
                        classnames: Sequence[str],
                        text_encoder: TextEncoder,
                        template: Optional[str] = None,
                        dataset_name: Optional[str] = None) -> None:
        """Tokenise every class name in every template.

        Args:
            classnames (Sequence[str]): Class names in label order.
            text_encoder (OpenCLIPTextEncoder): The head's text encoder.
            template (str, optional): The dataset's own template.
                Defaults to None.
            dataset_name (str, optional): The dataset's CoOp name (its
                ``metainfo['dataset_name']``), for ``'<set>+dataset'``.
                Defaults to None.
        """
        templates = self.resolve_templates(template, dataset_name)
        names = [self.prompt_name(n) for n in classnames]
        self._tokens = []
        for tmpl in templates:
            tokens = text_encoder.tokenize([tmpl.format(n) for n in names])
            length = int(tokens.argmax(dim=-1).max()) + 1
            self._tokens.append(tokens[:, :length])
        self.check_vocabulary(text_encoder, self._tokens, [*templates, *names])
        if templates != self.resolved_templates and len(templates) > 1:
            self._log_ensemble(templates, template, dataset_name)
        self.resolved_templates = templates
        self.classnames = list(classnames)

    def _log_ensemble(self, templates: list, template: Optional[str],
                      dataset_name: Optional[str]) -> None:
        """Say which templates an ensemble averages (CoOp prints n)."""
        note = ''
        if isinstance(self.templates, str) and self.templates.endswith(
                '+dataset') and dataset_name is None and (
                    template == COOP_TEMPLATES['ImageNet']):
            note = (f' The dataset template {template!r} was added; on '
                    "ImageNet CoOp's ZeroshotCLIP2 adds none (use "
                    f"templates={self.templates.split('+')[0]!r} there), "
                    'and the dataset name that would tell was not given.')
        what = repr(self.templates) if isinstance(self.templates,
                                                  str) else 'a list'
        print_log(
            f'HandcraftedPrompts: prompt ensembling over {len(templates)} '
            f'templates ({what}), the last {templates[-1]!r}.' + note,
            logger='current')

    def forward(self, text_encoder: TextEncoder) -> torch.Tensor:
        self._check_bound()
        feats = 0
        for tokens in self._tokens:
            tokens = tokens.to(text_encoder.device)
            out = text_encoder(text_encoder.embed(tokens), tokens)
            feats = feats + (
                F.normalize(out, dim=-1)
                if self.average == 'normalized' else out)
        return feats / len(self._tokens)
