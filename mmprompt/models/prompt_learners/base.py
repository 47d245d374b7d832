# Copyright (c) mmprompt contributors. All rights reserved.
from typing import Optional, Sequence

import torch
from mmengine.model import BaseModule


class BasePromptLearner(BaseModule):
    """The contract every text-prompt learner follows.

    A prompt learner owns the (learnable or hand-crafted) prompts of a class
    list and turns them into class text features with a frozen text encoder
    it is *given* (it never holds the encoder, so the encoder is registered
    once, in the head):

    * :meth:`set_class_names` builds whatever depends on the class list
      (token ids, frozen class-name embeddings). These are plain tensors, not
      buffers: they are rebuilt from the class names and never saved, so a
      checkpoint loads into a model for another class list.
    * :meth:`forward` returns ``(num_classes, embed_dim)`` class features
      (not normalised).

    Subclasses that take a ``text_encoder`` constructor argument receive the
    head's encoder there (to size and initialise their parameters).

    Learners that also prompt the image encoder (MaPLe, IVLP, VPT, DAPT)
    override :meth:`bind_image_encoder` and :meth:`visual_prompts`;
    ``VLPromptClassifier`` calls them. Text-only learners keep the defaults.
    """

    def __init__(self, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.classnames = None

    @property
    def num_classes(self) -> int:
        return 0 if self.classnames is None else len(self.classnames)

    @staticmethod
    def prompt_name(name: str) -> str:
        """A class name as it is written into a prompt (``_`` -> space)."""
        return name.replace('_', ' ')

    def set_class_names(self,
                        classnames: Sequence[str],
                        text_encoder,
                        template: Optional[str] = None) -> None:
        """Build the class-dependent prompt parts.

        Args:
            classnames (Sequence[str]): Class names in label order.
            text_encoder (OpenCLIPTextEncoder): The head's text encoder.
            template (str, optional): The dataset's hand-crafted template
                (e.g. ``'{} texture.'``); learners may ignore it.
        """
        raise NotImplementedError

    def forward(self, text_encoder) -> torch.Tensor:
        """Class text features ``(num_classes, embed_dim)``."""
        raise NotImplementedError

    def text_parameters(self):
        """The parameters the class text features depend on (all here)."""
        return self.parameters()

    def bind_image_encoder(self, image_encoder) -> None:
        """Size visual prompts for the backbone (text-only: nothing)."""

    def visual_prompts(self):
        """Prompts for the image encoder (``VisualPrompts``) or None."""
        return None

    def _check_bound(self):
        if self.classnames is None:
            raise RuntimeError(
                f'{type(self).__name__} has no class names yet. Add '
                "dict(type='SetClassNamesHook') to custom_hooks (it binds "
                "each dataset's metainfo['classes'] before train/val/test) or "
                'call head.set_class_names(classnames) yourself.')
