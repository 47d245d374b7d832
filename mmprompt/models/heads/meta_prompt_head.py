# Copyright (c) mmprompt contributors. All rights reserved.
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.logging import print_log
from mmpretrain.structures import DataSample

from mmprompt.errors import ConfigError
from mmprompt.registry import MODELS
from .prompt_cls_head import PromptClsHead

_KL_DIRECTIONS = ('mm_text', 'text_mm')


@MODELS.register_module()
class MetaPromptClsHead(PromptClsHead):
    """Meta-trained soft prompts with multimodal prototypes and text-only
    inference.

    "Prompt Tuning for Vision-Language Models via Meta-Training" trains
    CoOp-style context vectors episodically. In every task (N classes, K
    support and Q query images per class, laid out by
    :class:`EpisodicBatchSampler`) the class text features ``w_c`` attend to
    the support image features (:class:`CrossAttentionFusion`) to give
    multimodal prototypes ``m_c``, and each query ``x`` is classified among
    the task's classes twice::

        P_mm(c | x)   = softmax_c(tau * cos(f(x), m_c))
        P_text(c | x) = softmax_c(tau * cos(f(x), w_c))
        L = CE(P_mm, y) + lambda * KL(P_mm || P_text)      # lambda = 0.2

    averaged over the queries of all tasks of the meta-batch. Only the
    prompts and the fusion train; CLIP is frozen.

    Inference is zero-shot: :meth:`predict` (inherited from
    :class:`PromptClsHead`) classifies by the learned prompts' text features
    alone, never calling the fusion, so it costs what CoOp and CLIP cost.
    :meth:`compare_predictions` gives both predictions for a whole class
    list, for monitoring their gap (``MetaGapMonitorHook``).

    The episode layout comes from the train dataloader's
    ``EpisodicBatchSampler`` (``SetClassNamesHook`` calls
    :meth:`set_episode_layout` before training).

    **Testing without the fusion.** With ``fusion=None`` the head has no
    fusion at all (6 D^2 + 6 D parameters fewer with the default fusion:
    1.58 M at D = 512), which is what the paper promises at inference: no
    memory beyond CoOp's. Its :meth:`predict` is the full head's. A
    checkpoint trained with a fusion loads into it: the head drops the
    checkpoint's ``fusion.*`` keys on purpose (and logs how many), so they
    count neither as unexpected keys nor as silently accepted ones; any
    other unknown key is still reported. :meth:`loss` and
    :meth:`compare_predictions` need the fusion and raise ``ConfigError``
    without it.

    Args:
        text_encoder (dict | nn.Module): The frozen text encoder.
        prompt_learner (dict | nn.Module): The prompt learner, e.g.
            ``dict(type='CoOpPromptLearner', ctx_init='a photo of a')``.
        fusion (dict | nn.Module, optional): The prototype fusion; a config
            gets the text encoder's ``embed_dims``. None builds a text-only
            head for testing (see above). Defaults to
            ``dict(type='CrossAttentionFusion')``.
        kl_loss (dict | nn.Module): The divergence between the two
            predictions, weight = lambda. Defaults to
            ``dict(type='KLDivergenceLoss', loss_weight=0.2)``.
        kl_direction (str): ``'mm_text'`` for ``KL(P_mm || P_text)`` (the
            paper's eq. 5) or ``'text_mm'`` for ``KL(P_text || P_mm)``.
            Defaults to ``'mm_text'``.
        detach_mm (bool): Stop the KL's gradient through ``P_mm`` (use it as
            a fixed teacher); the paper trains both jointly. Defaults to
            False.
        logit_scale (float, optional): Fixed tau; None uses CLIP's.
            Defaults to None.
        loss (dict): The classification loss of ``P_mm``. Defaults to
            ``dict(type='CrossEntropyLoss', loss_weight=1.0)``.
        topk (int | tuple[int]): Top-k of ``ClsHead``. Defaults to ``(1, )``.
        cal_acc (bool): Unused (episode accuracies are always logged as
            ``acc_mm`` / ``acc_text``). Defaults to False.
        init_cfg (dict, optional): Initialisation config. Defaults to None.
    """

    def __init__(self,
                 text_encoder: Union[dict, nn.Module],
                 prompt_learner: Union[dict, nn.Module],
                 fusion: Optional[Union[dict, nn.Module]] = dict(
                     type='CrossAttentionFusion'),
                 kl_loss: Union[dict, nn.Module] = dict(
                     type='KLDivergenceLoss', loss_weight=0.2),
                 kl_direction: str = 'mm_text',
                 detach_mm: bool = False,
                 logit_scale: Optional[float] = None,
                 loss: dict = dict(type='CrossEntropyLoss', loss_weight=1.0),
                 topk: Union[int, Tuple[int]] = (1, ),
                 cal_acc: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(
            text_encoder=text_encoder,
            prompt_learner=prompt_learner,
            logit_scale=logit_scale,
            loss=loss,
            topk=topk,
            cal_acc=cal_acc,
            init_cfg=init_cfg)
        if kl_direction not in _KL_DIRECTIONS:
            raise ConfigError(f'MetaPromptClsHead: kl_direction must be one '
                              f'of {_KL_DIRECTIONS}, but got '
                              f'{kl_direction!r}.')
        if isinstance(fusion, dict):
            fusion = MODELS.build(
                fusion,
                default_args=dict(embed_dims=self.text_encoder.embed_dim))
        self.fusion = fusion
        self._told_fusion_ignored = False
        if isinstance(kl_loss, dict):
            kl_loss = MODELS.build(kl_loss)
        self.kl_loss = kl_loss
        self.kl_direction = kl_direction
        self.detach_mm = detach_mm
        self.episode_layout: Optional[Dict[str, int]] = None

    def set_episode_layout(self, num_ways: int, num_support: int,
                           num_query: int) -> None:
        """Tell the head how the training batches are cut into tasks.

        Args:
            num_ways (int): Classes per task (N).
            num_support (int): Support images per class (K).
            num_query (int): Query images per class (Q).
        """
        self.episode_layout = dict(
            num_ways=int(num_ways),
            num_support=int(num_support),
            num_query=int(num_query))

    def bind_training_set(self, dataloader) -> None:
        """Take the episode layout of the training batch sampler
        (``EpisodicBatchSampler.episode_layout``, see
        :meth:`set_episode_layout`).

        Args:
            dataloader (DataLoader): The training dataloader.

        Raises:
            TypeError: The batches are not episodes.
        """
        batch_sampler = getattr(dataloader, 'batch_sampler', None)
        layout = getattr(batch_sampler, 'episode_layout', None)
        if layout is None:
            raise TypeError(
                f'{type(self).__name__} trains on episodes, but the train '
                'dataloader draws plain batches '
                f'({type(batch_sampler).__name__}). Set '
                '`train_dataloader.batch_sampler = dict(type='
                "'EpisodicBatchSampler', num_ways=..., num_support=...)` "
                '(see configs/meta/).')
        self.set_episode_layout(**layout)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Drop the checkpoint's fusion weights when the head has none.

        A head built with ``fusion=None`` (text-only testing) expects the
        ``fusion.*`` keys of a checkpoint trained with the fusion and ignores
        them explicitly (and logs it once), so that a strict load does not
        call them unexpected. Other unknown keys are left for the usual
        checks.
        """
        if self.fusion is None:
            dropped = [
                key for key in state_dict if key.startswith(prefix + 'fusion.')
            ]
            for key in dropped:
                del state_dict[key]
            if dropped and not self._told_fusion_ignored:
                # once: checkpoint checks load a checkpoint twice
                self._told_fusion_ignored = True
                print_log(
                    f'MetaPromptClsHead: ignored the {len(dropped)} fusion '
                    f'weights ({prefix}fusion.*) of the checkpoint: this head '
                    'was built with fusion=None and predicts from the text '
                    'features alone.',
                    logger='current')
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def _require_fusion(self, what: str) -> None:
        if self.fusion is None:
            raise ConfigError(
                f'MetaPromptClsHead.{what} needs the multimodal fusion, but '
                'the head was built with fusion=None, the text-only head for '
                'testing. Train and monitor the gap with a fusion, e.g. '
                "model.head.fusion=dict(type='CrossAttentionFusion') (the "
                'meta configs have it); drop it only to test, with '
                "tools/test.py's --cfg-options model.head.fusion=None.")

    def prototypes(self, text: torch.Tensor,
                   support: torch.Tensor) -> torch.Tensor:
        """L2-normalised multimodal prototypes.

        Args:
            text (torch.Tensor): Class text features ``(T, N, D)``.
            support (torch.Tensor): Support image features ``(T, N, K, D)``.

        Returns:
            torch.Tensor: ``(T, N, D)``.

        Raises:
            ConfigError: The head has no fusion (``fusion=None``).
        """
        self._require_fusion('prototypes')
        return F.normalize(self.fusion(text, support), dim=-1)

    def _split_episodes(self, feats: torch.Tensor,
                        labels: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Cut a meta-batch into (support, query, class label) per task."""
        if self.episode_layout is None:
            raise RuntimeError(
                'MetaPromptClsHead trains on episodes but has no episode '
                "layout: train with batch_sampler=dict(type="
                "'EpisodicBatchSampler', ...) and keep "
                "default_hooks.class_names=dict(type='SetClassNamesHook') "
                '(it passes the layout on), or call '
                '`head.set_episode_layout(num_ways, num_support, num_query)`.')
        ways = self.episode_layout['num_ways']
        shots = self.episode_layout['num_support']
        queries = self.episode_layout['num_query']
        per_task = ways * (shots + queries)
        batch = feats.size(0)
        if batch == 0 or batch % per_task:
            raise ConfigError(
                f'MetaPromptClsHead: a batch of {batch} images is not a '
                f'whole number of tasks of {ways} ways x ({shots} support + '
                f'{queries} query) = {per_task} images; is the batch drawn '
                'by EpisodicBatchSampler with this layout?')
        tasks = batch // per_task
        feats = feats.reshape(tasks, ways, shots + queries, -1)
        labels = labels.reshape(tasks, ways, shots + queries)
        classes = labels[:, :, 0]
        same_class = (labels == classes.unsqueeze(-1)).all()
        distinct = all(len(set(row.tolist())) == ways for row in classes.cpu())
        if not (same_class and distinct):
            raise ConfigError(
                'MetaPromptClsHead: the batch labels do not follow the '
                f'episode layout ({ways} distinct classes per task, '
                f'{shots + queries} consecutive images per class); is the '
                'batch drawn by EpisodicBatchSampler with this layout?')
        support = feats[:, :, :shots]
        query = feats[:, :, shots:].reshape(tasks, ways * queries, -1)
        return support, query, classes

    def loss(self, feats: Tuple[torch.Tensor], data_samples: List[DataSample],
             **kwargs) -> dict:
        """The meta-training loss of one meta-batch.

        Args:
            feats (tuple[torch.Tensor]): Image features; the last item is
                ``(B, D)`` with B = tasks x ways x (support + query).
            data_samples (list[DataSample]): Their ground truth.

        Returns:
            dict: ``loss_cls`` (CE of ``P_mm``), ``loss_kl`` (weighted KL),
            and the query accuracies ``acc_mm`` / ``acc_text`` (%).

        Raises:
            ConfigError: The head has no fusion (``fusion=None``).
        """
        self._require_fusion('loss')
        image = F.normalize(self.pre_logits(feats), dim=-1)
        labels = torch.stack([
            sample.gt_label.reshape(()) for sample in data_samples
        ]).to(image.device)
        support, query, classes = self._split_episodes(image, labels)
        text = self.text_features()[classes].to(image.dtype)
        protos = self.prototypes(text, support).to(image.dtype)
        scale = self.logit_scale.to(image.device)
        mm_logits = scale * query @ protos.transpose(1, 2)
        text_logits = scale * query @ text.transpose(1, 2)

        ways = classes.size(1)
        queries = query.size(1) // ways
        target = torch.arange(
            ways, device=image.device).repeat_interleave(queries).repeat(
                classes.size(0))
        mm_logits = mm_logits.reshape(-1, ways)
        text_logits = text_logits.reshape(-1, ways)
        mm_for_kl = mm_logits.detach() if self.detach_mm else mm_logits
        pair = ((mm_for_kl, text_logits) if self.kl_direction == 'mm_text' else
                (text_logits, mm_for_kl))
        with torch.no_grad():
            acc_mm = (mm_logits.argmax(1) == target).float().mean() * 100
            acc_text = (text_logits.argmax(1) == target).float().mean() * 100
        return dict(
            loss_cls=self.loss_module(mm_logits, target),
            loss_kl=self.kl_loss(*pair),
            acc_mm=acc_mm,
            acc_text=acc_text)

    def compare_predictions(
            self, images: torch.Tensor,
            support: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """Logits over all bound classes with prototypes and with text.

        The bound class list is one "task": prototype ``c`` fuses the text
        feature of class ``c`` with ``support[c]``.

        Args:
            images (torch.Tensor): Image features ``(M, D)``.
            support (torch.Tensor): Support image features ``(C, K, D)``,
                C = number of bound classes.

        Returns:
            tuple[torch.Tensor]: Multimodal-prototype and text-only logits,
            each ``(M, C)``.

        Raises:
            ConfigError: The head has no fusion (``fusion=None``).
        """
        self._require_fusion('compare_predictions')
        text = self.text_features()
        if support.dim() != 3 or support.size(0) != text.size(0):
            raise ConfigError(
                f'MetaPromptClsHead.compare_predictions: support must be '
                f'(C, K, D) with C = {text.size(0)} bound classes, but got '
                f'{tuple(support.shape)}.')
        images = F.normalize(images, dim=-1)
        text = text.to(images.dtype)
        protos = self.prototypes(text[None], support[None].to(images))[0]
        scale = self.logit_scale.to(images.device)
        return (scale * images @ protos.to(images.dtype).t(),
                scale * images @ text.t())
