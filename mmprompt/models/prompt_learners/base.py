# Copyright (c) mmprompt contributors. All rights reserved.
import logging
import re
from typing import Iterable, Optional, Sequence, Set, Tuple

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModule

from ..clip import OpenCLIPTextEncoder as TextEncoder

#: Word sets already warned about by :meth:`BasePromptLearner.
#: check_vocabulary` (once per set, not at every re-binding).
_WARNED_WORD_SETS: Set[frozenset] = set()

#: Words and single punctuation marks, as CLIP's tokenizer splits text.
_WORD = re.compile(r'\w+|[^\w\s]+')


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
                        text_encoder: TextEncoder,
                        template: Optional[str] = None,
                        dataset_name: Optional[str] = None) -> None:
        """Build the class-dependent prompt parts.

        Args:
            classnames (Sequence[str]): Class names in label order.
            text_encoder (OpenCLIPTextEncoder): The head's text encoder.
            template (str, optional): The dataset's hand-crafted template
                (e.g. ``'{} texture.'``); learners may ignore it.
            dataset_name (str, optional): The dataset's CoOp name
                (``metainfo['dataset_name']``, e.g. ``'ImageNet'``);
                learners may ignore it.
        """
        raise NotImplementedError

    def forward(self, text_encoder: TextEncoder) -> torch.Tensor:
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

    def check_vocabulary(self,
                         text_encoder: TextEncoder,
                         tokens: Sequence[torch.Tensor],
                         texts: Iterable[str],
                         skip: Optional[Tuple[int, int]] = None) -> None:
        """Warn about prompt words whose token embeddings are all zero.

        Such a word embeds to nothing: the shipped tiny CLIP
        (``mmprompt-tinyclip``, tag ``'procdtd'``) keeps only the token
        embeddings of its caption vocabulary, so class names or template
        words outside it make classes look alike and zero-shot accuracy
        falls to chance. Only the rows of the token ids in ``tokens`` are
        read (a gather of a few hundred rows for ViT-B/16); the words are
        looked up only when a zero row is found. Each word set is warned
        about once per process.

        Args:
            text_encoder (OpenCLIPTextEncoder): The encoder whose
                ``token_embedding`` embeds the tokens.
            tokens (Sequence[torch.Tensor]): ``(N, L)`` token ids; the
                positions after each row's EOT (argmax) are ignored.
            texts (Iterable[str]): The texts the tokens came from, to name
                the words.
            skip (tuple[int, int], optional): Positions ``[start, stop)``
                whose embeddings are replaced (learned context), so their
                tokens do not count. Defaults to None.
        """
        weight = getattr(
            getattr(text_encoder, 'token_embedding', None), 'weight', None)
        if weight is None:
            return
        flat = []
        for ids in tokens:
            ids = ids.detach().cpu()
            if skip is not None:
                ids = torch.cat([ids[:, :skip[0]], ids[:, skip[1]:]], dim=1)
            flat.append(ids.reshape(-1))
        if not flat:
            return
        # The positions after an EOT are padding (id 0); whether id 0 also
        # occurs as text is only asked below, if its row is zero.
        used = torch.bincount(
            torch.cat(flat), minlength=weight.shape[0]).nonzero().flatten()
        with torch.no_grad():
            zero = ~weight[used.to(weight.device)].detach().any(dim=1).cpu()
        if bool(zero[used == 0].any()) and not self._pad_is_text(tokens, skip):
            zero[used == 0] = False
        if not bool(zero.any()):
            return
        zero_ids = set(used[zero].tolist())
        words = {}
        for text in texts:
            for word in _WORD.findall(text):
                key = word.lower()
                if key not in words and zero_ids & set(
                        text_encoder.encode_words(word)):
                    words[key] = word
        for name in ('start', 'end'):
            special = getattr(text_encoder, f'{name[0]}ot_token_id', None)
            if special in zero_ids:
                words[name] = f'<{name}_of_text>'
        named = sorted(words.values()) or sorted(zero_ids)
        word_set = frozenset(named)
        if word_set in _WARNED_WORD_SETS:
            return
        _WARNED_WORD_SETS.add(word_set)
        with torch.no_grad():
            kept = int(weight.detach().any(dim=1).sum())
        model = getattr(text_encoder, 'model_name',
                        type(text_encoder).__name__)
        print_log(
            f'{type(self).__name__}: the token embedding of the text encoder '
            f'{model!r} is all zero for the tokens of {len(named)} '
            f'word(s) of these prompts: {", ".join(map(repr, named))}. '
            f'They embed to nothing (the model keeps {kept} of '
            f'{weight.shape[0]} token embeddings; the shipped tiny CLIP '
            "keeps only its caption vocabulary), so classes that differ only "
            'in them look alike and zero-shot accuracy can fall to chance. '
            'Use words the model knows (for the tiny CLIP: the DTD texture '
            "names and the template '{} texture.') or a CLIP with a full "
            'vocabulary.',
            logger='current',
            level=logging.WARNING)

    @staticmethod
    def _pad_is_text(tokens: Sequence[torch.Tensor],
                     skip: Optional[Tuple[int, int]]) -> bool:
        """Whether token id 0 (open_clip's padding) occurs before an EOT."""
        for ids in tokens:
            positions = torch.arange(ids.shape[1], device=ids.device)
            keep = positions[None] < ids.argmax(dim=-1, keepdim=True)
            if skip is not None:
                keep[:, skip[0]:skip[1]] = False
            if bool((ids[keep] == 0).any()):
                return True
        return False

    def _check_bound(self):
        if self.classnames is None:
            raise RuntimeError(
                f'{type(self).__name__} has no class names yet. Keep '
                "default_hooks.class_names=dict(type='SetClassNamesHook') "
                '(configs/_base_/default_runtime.py sets it; it binds each '
                "dataset's metainfo['classes'] before train/val/test) or "
                'call head.set_class_names(classnames) yourself.')
