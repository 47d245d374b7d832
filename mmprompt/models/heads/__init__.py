# Copyright (c) mmprompt contributors. All rights reserved.
from .clip_adapter_head import CLIPAdapterHead, FeatureAdapter
from .cocoop_head import CoCoOpHead
from .dapt_head import DAPTHead
from .instance_prompt_head import (InstancePromptHead, class_members,
                                   draw_instance_prompts, topk_class_logits)
from .kgcoop_head import KgCoOpHead
from .lfa_head import LFAHead, procrustes
from .meta_prompt_head import MetaPromptClsHead
from .prograd_head import ProGradHead  # noqa: F401
from .prompt_cls_head import PromptClsHead
from .promptsrc_head import PromptSRCHead
from .rpo_head import RPOHead  # noqa: F401
from .tip_adapter_head import TipAdapterHead  # noqa: F401

__all__ = [
    'PromptClsHead', 'MetaPromptClsHead', 'DAPTHead', 'InstancePromptHead',
    'KgCoOpHead', 'CoCoOpHead', 'PromptSRCHead', 'class_members',
    'draw_instance_prompts', 'topk_class_logits', 'CLIPAdapterHead',
    'FeatureAdapter', 'LFAHead', 'procrustes'
]
