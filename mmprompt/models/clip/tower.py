# Copyright (c) mmprompt contributors. All rights reserved.
"""What both towers share: freezing, kilobyte checkpoints, prompt injection."""
from typing import Callable, Dict, NamedTuple, Optional, Sequence

import open_clip
import torch
import torch.nn as nn
import torch.utils.checkpoint
from mmengine.model import BaseModule

from ..utils.frozen_weights import exclude_from_checkpoints, state_tensors

#: Where visual prompt tokens enter a vision transformer's input sequence.
VISION_PROMPT_POSITIONS = ('append', 'after_cls')


class VisualPrompts(NamedTuple):
    """Prompt tokens for the layers of a vision transformer.

    Attributes:
        tokens (Sequence[torch.Tensor | None]): ``tokens[0]`` is inserted
            into the input sequence; ``tokens[i]`` (``i >= 1``) replaces the
            prompt tokens (the outputs of block ``i - 1`` at the prompt
            positions) before block ``i``. ``None`` or a shorter list keeps
            the previous layer's outputs there (shallow prompts: one entry).
            Each is ``(P, width)``, shared by the batch, or ``(B, P, width)``.
        position (str): ``'append'``: after the patch tokens, with
            ``ln_pre`` applied to them (MaPLe, IVLP and VPT in the MaPLe
            code base append after the positional embedding and before
            ``ln_pre``; ``ln_pre`` acts per token, so this is the same);
            ``'after_cls'``: right after the CLS token, after ``ln_pre``
            (DAPT, VPT's paper). Defaults to 'append'.
    """
    tokens: Sequence[Optional[torch.Tensor]]
    position: str = 'append'


def expand_prompts(prompt: torch.Tensor, batch: int,
                   like: torch.Tensor) -> torch.Tensor:
    """``(P, D)`` or ``(B, P, D)`` prompts -> ``(B, P, D)`` like ``like``."""
    prompt = prompt.to(like.dtype)
    if prompt.dim() == 2:
        prompt = prompt.unsqueeze(0).expand(batch, -1, -1)
    return prompt


def run_blocks(transformer: nn.Module,
               x: torch.Tensor,
               attn_mask: Optional[torch.Tensor] = None,
               inject: Optional[Callable] = None) -> torch.Tensor:
    """Run open_clip's residual blocks on batch-first tokens ``(N, L, D)``.

    ``inject(i, x)`` may edit the batch-first tokens before block ``i >= 1``
    (deep prompts). Without it this is ``transformer(x, attn_mask)``.

    With ``transformer.grad_checkpointing`` (open_clip's
    ``set_grad_checkpointing``) each block runs, like in open_clip's
    ``Transformer.forward``, as ``checkpoint(block, x, None, None, attn_mask,
    use_reentrant=False)``: its activations are recomputed in the backward
    pass instead of kept. The injections stay outside the checkpoints. When
    no gradient is recorded (``torch.no_grad``) or when scripting, the
    blocks run plainly (nothing would be saved anyway); the outputs are the
    same either way.
    """
    checkpointing = (
        getattr(transformer, 'grad_checkpointing', False)
        and torch.is_grad_enabled() and not torch.jit.is_scripting())
    seq_first = not transformer.batch_first
    if seq_first:
        x = x.transpose(0, 1)
    for i, block in enumerate(transformer.resblocks):
        if i and inject is not None:
            x = inject(i, x.transpose(0, 1)).transpose(
                0, 1) if seq_first else inject(i, x)
        if not checkpointing:
            x = block(x, attn_mask=attn_mask)
        elif isinstance(block, open_clip.transformer.ResidualAttentionBlock):
            # Positional (q_x, k_x, v_x, attn_mask), as open_clip passes
            # them (checkpoint forwards no keyword arguments, pytorch#79887).
            x = torch.utils.checkpoint.checkpoint(
                block, x, None, None, attn_mask, use_reentrant=False)
        else:  # CustomResidualAttentionBlock.forward(x, attn_mask)
            x = torch.utils.checkpoint.checkpoint(
                block, x, attn_mask, use_reentrant=False)
    return x.transpose(0, 1) if seq_first else x


class FrozenCLIPTower(BaseModule):
    """Base of the two towers: freezing and kilobyte checkpoints.

    With ``frozen=True`` every parameter is set to ``requires_grad=False``,
    the tower stays in eval mode, and the frozen tensors are left out of
    ``state_dict()`` (so a prompt checkpoint holds only what trains). When a
    checkpoint without them is loaded, the current frozen values are kept
    instead of being reported as missing keys. ``_is_init`` is set so the
    runner's ``init_weights`` never re-initialises the library's weights.

    Args:
        frozen (bool): Freeze the tower. Defaults to True.
        init_cfg (dict, optional): Unused; kept for the BaseModule contract.
    """

    def __init__(self, frozen: bool = True, init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        self.frozen = frozen
        self._is_init = True
        exclude_from_checkpoints(self, self._frozen_tensors)

    def _freeze(self):
        if self.frozen:
            for param in self.parameters():
                param.requires_grad_(False)
            self.train(False)

    def _frozen_tensors(self) -> Dict[str, torch.Tensor]:
        if not self.frozen:
            return {}
        return {
            name: t
            for name, t in state_tensors(self).items() if not t.requires_grad
        }

    def train(self, mode: bool = True):
        """Keep a frozen tower in eval mode."""
        return super().train(mode and not self.frozen)
