# Copyright (c) mmprompt contributors. All rights reserved.
from typing import Optional

import torch
from mmpretrain.models.classifiers import ImageClassifier

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from ..heads import PromptClsHead


@MODELS.register_module()
class VLPromptClassifier(ImageClassifier):
    """An ``ImageClassifier`` whose head also prompts the image encoder.

    For methods with prompts in both towers (MaPLe, IVLP, VPT-deep, DAPT):
    the head is bound to the backbone when the model is built
    (:meth:`PromptClsHead.bind_image_encoder`, so its prompt learner can
    size its visual prompts), and every forward passes the head's
    :meth:`PromptClsHead.visual_prompts` to the backbone
    (``OpenCLIPImageEncoder``). Everything else (losses, predictions,
    data preprocessing) is mmpretrain's ``ImageClassifier``; with a
    text-only prompt learner it behaves exactly like it.

    A head whose loss needs the frozen (unprompted) image features
    (``needs_frozen_image_feats``, PromptSRC's image consistency) gets them
    in training as ``frozen_feats``: a second pass of the tower without
    prompts and gradients or, when every data sample carries them as
    ``frozen_feat`` (the feature store's exact training views,
    ``FeatureStoreHook(train_views='exact')``), those.

    Args:
        backbone (dict): An ``OpenCLIPImageEncoder`` config.
        head (dict): A ``PromptClsHead`` (or subclass) config.
        **kwargs: Other ``ImageClassifier`` arguments (``neck``,
            ``data_preprocessor``, ``train_cfg``, ``init_cfg``).
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 frozen_feats_in_loss: Optional[bool] = None,
                 **kwargs):
        if frozen_feats_in_loss is not None:
            raise ConfigError(
                'VLPromptClassifier: frozen_feats_in_loss is no longer a '
                'classifier option: a head declares that its loss needs the '
                'frozen image features (PromptSRCHead does). Remove '
                'model.frozen_feats_in_loss from the config.')
        super().__init__(backbone=backbone, head=head, **kwargs)
        if not isinstance(self.head, PromptClsHead):
            raise TypeError(
                f'VLPromptClassifier needs a prompt head (a PromptClsHead, '
                f'whose prompt learner may prompt the image encoder), not '
                f'{type(self.head).__name__}.')
        self.head.bind_image_encoder(self.backbone)

    @property
    def frozen_feats_in_loss(self) -> bool:
        """Whether the head's loss takes the frozen image features."""
        return self.head.needs_frozen_image_feats

    def loss(self, inputs: torch.Tensor, data_samples) -> dict:
        """``ImageClassifier.loss``, plus the frozen (unprompted) image
        features when the head needs them."""
        feats = self.extract_feat(inputs)
        if not self.frozen_feats_in_loss:
            return self.head.loss(feats, data_samples)
        stored = [s.get('frozen_feat') for s in data_samples]
        if stored and all(f is not None for f in stored):
            frozen = (torch.stack(stored).to(inputs.device), )
        else:
            with torch.no_grad():
                frozen = self.backbone(inputs)
                if self.with_neck:
                    frozen = self.neck(frozen)
        return self.head.loss(feats, data_samples, frozen_feats=frozen)

    def extract_feat(self,
                     inputs: torch.Tensor,
                     stage: Optional[str] = 'neck'):
        """Image features with the prompt learner's visual prompts.

        Args:
            inputs (torch.Tensor): ``(B, 3, H, W)`` images.
            stage (str): ``'backbone'``, ``'neck'`` or ``'pre_logits'``, as
                in ``ImageClassifier``. Defaults to 'neck'.
        """
        if stage not in ('backbone', 'neck', 'pre_logits'):
            raise ConfigError(f'Invalid output stage {stage!r}; choose '
                              "'backbone', 'neck' or 'pre_logits'.")
        prompts = self.head.visual_prompts()
        x = self.backbone(inputs, prompts=prompts)
        if stage == 'backbone':
            return x
        if self.with_neck:
            x = self.neck(x)
        return x if stage == 'neck' else self.head.pre_logits(x)
