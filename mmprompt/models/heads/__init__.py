# Copyright (c) mmprompt contributors. All rights reserved.
from .dapt_head import DAPTHead
from .instance_prompt_head import (InstancePromptHead, class_members,
                                   draw_instance_prompts, topk_class_logits)
from .meta_prompt_head import MetaPromptClsHead
from .prompt_cls_head import PromptClsHead

__all__ = [
    'PromptClsHead', 'MetaPromptClsHead', 'DAPTHead', 'InstancePromptHead',
    'class_members', 'draw_instance_prompts', 'topk_class_logits'
]
