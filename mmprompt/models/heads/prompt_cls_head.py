# Copyright (c) mmprompt contributors. All rights reserved.
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmpretrain.models.heads import ClsHead

from mmprompt.registry import MODELS


@MODELS.register_module()
class PromptClsHead(ClsHead):
    """Classify image features by cosine similarity to prompted class texts.

    The head of every text-prompt method (zero-shot CLIP, CoOp, ...): a frozen
    text encoder, a prompt learner that turns the bound class names into
    class text features, and CLIP's scaled cosine logits
    ``logit_scale * normalize(image) @ normalize(text).T``. It follows
    mmpretrain's :class:`ClsHead` contract, so :meth:`loss` returns
    ``{'loss': ...}`` and :meth:`predict` fills ``DataSample``s; the image
    features may come from any backbone (+ neck) whose output lives in the
    text encoder's embedding space.

    Class names are bound by :meth:`set_class_names` (the
    ``SetClassNamesHook`` does it from each dataset's metainfo before
    train/val/test). Outside training the class text features are computed
    once and reused until the prompts or the classes change, so inference
    costs one image-encoder pass plus a matmul.

    Args:
        text_encoder (dict | nn.Module): The frozen text encoder, e.g.
            ``dict(type='OpenCLIPTextEncoder', model_name='ViT-B-16')``.
        prompt_learner (dict | nn.Module): A prompt learner (see
            :class:`BasePromptLearner`); the config is built with the text
            encoder as ``text_encoder`` argument.
        logit_scale (float, optional): Fixed logit scale; ``None`` uses the
            text encoder's CLIP temperature ``exp(logit_scale)`` (100 for
            OpenAI CLIP). Defaults to None.
        loss (dict): Classification loss. Defaults to
            ``dict(type='CrossEntropyLoss', loss_weight=1.0)``.
        topk (int | tuple[int]): Top-k for training accuracy. Defaults to
            ``(1, )``.
        cal_acc (bool): Log training accuracy. Defaults to False.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    #: Whether :meth:`loss` needs the frozen (unprompted) image features of
    #: the batch as ``frozen_feats`` (PromptSRC's image target);
    #: ``VLPromptClassifier`` computes or reads them when it is set.
    needs_frozen_image_feats: bool = False

    def __init__(self,
                 text_encoder: Union[dict, nn.Module],
                 prompt_learner: Union[dict, nn.Module],
                 logit_scale: Optional[float] = None,
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 topk: Union[int, Tuple[int]] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            loss=loss, topk=topk, cal_acc=cal_acc, init_cfg=init_cfg)
        if isinstance(text_encoder, dict):
            text_encoder = MODELS.build(text_encoder)
        self.text_encoder = text_encoder
        if isinstance(prompt_learner, dict):
            prompt_learner = MODELS.build(
                prompt_learner, default_args=dict(text_encoder=text_encoder))
        self.prompt_learner = prompt_learner
        self.fixed_logit_scale = logit_scale
        self._classes_key = None
        self._caches = {}  # slot -> (key, value), see _cached

    @property
    def classnames(self) -> Optional[list]:
        return self.prompt_learner.classnames

    @property
    def logit_scale(self) -> torch.Tensor:
        if self.fixed_logit_scale is not None:
            return torch.tensor(self.fixed_logit_scale)
        return self.text_encoder.logit_scale.exp()

    def set_class_names(self,
                        classnames: Sequence[str],
                        template: Optional[str] = None,
                        dataset_name: Optional[str] = None) -> None:
        """Bind the class list (and the dataset's template) to the prompts.

        Args:
            classnames (Sequence[str]): Class names in label order.
            template (str, optional): The dataset's hand-crafted template.
            dataset_name (str, optional): The dataset's CoOp name, for
                template sets such as ``'imagenet_select+dataset'``.
        """
        key = (tuple(classnames), template, dataset_name)
        if key == self._classes_key:
            return
        self.prompt_learner.set_class_names(
            list(classnames),
            self.text_encoder,
            template=template,
            dataset_name=dataset_name)
        self._classes_key = key
        self._caches.clear()

    def bind_training_set(self, dataloader) -> None:
        """Take what the head needs from the training set, beyond its class
        names (``SetClassNamesHook`` calls it before training, after
        :meth:`set_class_names`). Nothing by default; the meta-training
        head reads the episode layout of the batch sampler, the
        instance-wise head the label of every training image.

        Args:
            dataloader (DataLoader): The training dataloader.
        """

    def bind_image_encoder(self, image_encoder: nn.Module) -> None:
        """Give the prompt learner the image encoder whose tower its visual
        prompts enter (``VLPromptClassifier`` calls it once, when built)."""
        self.prompt_learner.bind_image_encoder(image_encoder)

    def visual_prompts(self):
        """The prompts the image encoder runs with this step
        (``VisualPrompts``), or None for a text-only method."""
        return self.prompt_learner.visual_prompts()

    def _text_parameters(self) -> list:
        """Every parameter the class text features depend on."""
        return list(self.text_encoder.parameters()) + list(
            self.prompt_learner.text_parameters())

    def _state_key(self) -> tuple:
        """Changes whenever a text prompt, weight, learner buffer or the
        class list changes."""
        versions = tuple(p._version for p in self._text_parameters())
        buffers = tuple(b._version for b in self.prompt_learner.buffers())
        return (self._classes_key, versions, buffers, self.text_encoder.device)

    def _cached(self, compute, key=None, slot: str = 'text'):
        """``compute()`` without gradients, reused until ``key`` changes.

        Args:
            compute (callable): Computes the value.
            key (optional): What the value depends on. Defaults to
                :meth:`_state_key` (every optimiser step and checkpoint
                load changes it).
            slot (str): Name of the cached value, so that a head can keep
                several. Defaults to 'text' (the class text features).
        """
        key = self._state_key() if key is None else key
        cached = self._caches.get(slot)
        if cached is None or cached[0] != key:
            with torch.no_grad():
                cached = self._caches[slot] = (key, compute())
        return cached[1]

    def text_features(self) -> torch.Tensor:
        """L2-normalised class text features ``(num_classes, embed_dim)``.

        Recomputed with gradients in training when a text prompt trains;
        otherwise cached, keyed by the version counters of the parameters
        they depend on (every optimiser step and checkpoint load bumps
        them). So fixed texts (zero-shot, VPT-deep) cost one text pass, not
        one per iteration.
        """
        if self.training and any(p.requires_grad
                                 for p in self._text_parameters()):
            self._caches.pop('text', None)
            return F.normalize(self.prompt_learner(self.text_encoder), dim=-1)
        return self._cached(lambda: F.normalize(
            self.prompt_learner(self.text_encoder), dim=-1))

    def cosine_logits(self, feats: Tuple[torch.Tensor]) -> tuple:
        """The logits with the features they come from.

        Returns:
            tuple: ``(logits, image, text)``: logits ``(B, num_classes)``
            and the L2-normalised image ``(B, D)`` and class text
            ``(num_classes, D)`` features, for heads whose losses use them.
        """
        image = F.normalize(self.pre_logits(feats), dim=-1)
        text = self.text_features().to(image.dtype)
        return self.logit_scale.to(image.device) * image @ text.t(), \
            image, text

    def forward(self, feats: Tuple[torch.Tensor]) -> torch.Tensor:
        """Image features -> logits ``(B, num_classes)``."""
        return self.cosine_logits(feats)[0]
