# Copyright (c) mmprompt contributors. All rights reserved.
from typing import List, Tuple

import torch
from mmpretrain.structures import DataSample

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from .prompt_cls_head import PromptClsHead


@MODELS.register_module()
class DAPTHead(PromptClsHead):
    """The head of DAPT: CE plus the intra- and inter-class distribution
    losses.

    Cho, Kim and Kim, "Distribution-Aware Prompt Tuning for Vision-Language
    Models", ICCV 2023. With ``f`` and ``t`` the L2-normalised prompted
    image and class text features and ``s_y`` the class prototype of the
    label (:class:`~mmprompt.engine.hooks.ClassPrototypeHook` computes the
    prototypes before training)::

        L = CE(logit_scale * f t^T, y) + beta_v * L_intra(f, s_y)
            + beta_t * L_inter(t)

    The betas are the ``loss_weight`` of the two losses. Inference is
    :class:`PromptClsHead`'s (prototypes are not used).

    Args:
        loss_intra (dict): The intra-class loss. Defaults to
            ``dict(type='DAPTIntraLoss', loss_weight=10.0)``.
        loss_inter (dict): The inter-class loss. Defaults to
            ``dict(type='DAPTInterLoss', loss_weight=0.01)``.
        **kwargs: :class:`PromptClsHead` arguments (``text_encoder``,
            ``prompt_learner``, ``loss``, ...).

    Shapes:
        ``prototypes``: ``(num_train_classes, embed_dim)`` buffer, saved in
        checkpoints (empty until set).
    """

    def __init__(
            self,
            loss_intra: dict = dict(type='DAPTIntraLoss', loss_weight=10.0),
            loss_inter: dict = dict(type='DAPTInterLoss', loss_weight=0.01),
            **kwargs):
        super().__init__(**kwargs)
        self.loss_intra = MODELS.build(loss_intra)
        self.loss_inter = MODELS.build(loss_inter)
        self.register_buffer(
            'prototypes',
            torch.zeros(
                0,
                self.text_encoder.embed_dim,
                device=self.text_encoder.device))

    def set_prototypes(self, prototypes: torch.Tensor) -> None:
        """Set the ``(num_train_classes, embed_dim)`` class prototypes."""
        if prototypes.dim() != 2 or \
                prototypes.shape[1] != self.text_encoder.embed_dim:
            raise ConfigError(
                f'Prototypes of shape {tuple(prototypes.shape)} do not fit '
                f'the embedding width {self.text_encoder.embed_dim}.')
        self.prototypes = prototypes.detach().to(self.prototypes.device,
                                                 self.prototypes.dtype)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        key = prefix + 'prototypes'
        if key in state_dict:  # the buffer takes the checkpoint's size
            self.prototypes = self.prototypes.new_empty(state_dict[key].shape)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """CE (``loss`` and, with ``cal_acc``, the accuracy), ``loss_intra``
        and ``loss_inter`` of a batch.

        Raises:
            RuntimeError: no prototypes were set.
            ValueError: the prototypes do not match the bound classes.
        """
        if self.prototypes.shape[0] == 0:
            raise RuntimeError(
                'DAPTHead has no class prototypes. Set '
                'default_hooks.class_prototypes='
                "dict(type='ClassPrototypeHook') (configs/_base_/dapt_runtime"
                '.py does; it computes them from '
                'the training set before training) or '
                'call head.set_prototypes(...).')
        if self.prototypes.shape[0] != len(self.classnames or ()):
            raise ConfigError(
                f'DAPTHead has {self.prototypes.shape[0]} class prototypes '
                f'but is bound to {len(self.classnames or ())} classes.')
        logits, image, text = self.cosine_logits(feats)
        losses = self._get_loss(logits, data_samples, **kwargs)
        labels = torch.stack([s.gt_label.reshape(())
                              for s in data_samples]).to(image.device)
        losses['loss_intra'] = self.loss_intra(image,
                                               self.prototypes.to(image.dtype),
                                               labels)
        losses['loss_inter'] = self.loss_inter(text)
        return losses
