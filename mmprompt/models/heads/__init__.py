# Copyright (c) mmprompt contributors. All rights reserved.
from .dapt_head import DAPTHead
from .meta_prompt_head import MetaPromptClsHead
from .prompt_cls_head import PromptClsHead

__all__ = ['PromptClsHead', 'MetaPromptClsHead', 'DAPTHead']
