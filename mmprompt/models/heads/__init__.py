# Copyright (c) mmprompt contributors. All rights reserved.
from .cocoop_head import CoCoOpHead
from .dapt_head import DAPTHead
from .instance_prompt_head import (InstancePromptHead, class_members,
                                   draw_instance_prompts, topk_class_logits)
from .kgcoop_head import KgCoOpHead
from .meta_prompt_head import MetaPromptClsHead
from .prompt_cls_head import PromptClsHead
from .promptsrc_head import PromptSRCHead

__all__ = [
    'PromptClsHead', 'MetaPromptClsHead', 'DAPTHead', 'InstancePromptHead',
    'KgCoOpHead', 'CoCoOpHead', 'PromptSRCHead', 'class_members',
    'draw_instance_prompts', 'topk_class_logits'
]
