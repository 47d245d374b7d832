# Copyright (c) mmprompt contributors. All rights reserved.
from .prompt_cls_head import PromptClsHead

__all__ = ['PromptClsHead']
