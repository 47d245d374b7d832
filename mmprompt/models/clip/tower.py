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


#: What each read-only token attends to besides the original tokens it reads
#: (see :class:`ReadOnlyTokens`).
READONLY_ATTENTION = ('none', 'self', 'all')


class ReadOnlyTokens(NamedTuple):
    """Tokens appended to a tower's sequence that read it but never change it.

    The read-only prompts of RPO (Lee et al., ICCV 2023): the tokens are
    appended after the tower's own sequence (after the EOT's padding in the
    text tower, after the patch tokens in the image tower) with an attention
    mask under which no original token attends to them, so every original
    token, and the tower's usual output, is exactly what it is without them;
    each appended token attends to the original tokens (in the text tower:
    those up to its row's EOT, as the causal mask lets the EOT see) and,
    as ``among`` says, to the appended tokens. The towers return their
    outputs too, after the final layer norm and the projection (see the
    towers' ``forward``). They get no positional embedding: RPO writes them
    over tokens that already carry theirs (the padding of the text, the
    sequence after the positional embedding of the image), as in
    ``trainers/rpo.py`` of the official code (mlvlab/RPO).

    Attributes:
        tokens (torch.Tensor): ``(P, width)``, shared by the batch, or
            ``(B, P, width)``. In the image tower they pass ``ln_pre``
            with the rest of the sequence, as in RPO.
        among (str): What an appended token attends to among the appended
            tokens: ``'none'`` (RPO: only the original tokens, not even
            itself), ``'self'`` (itself too) or ``'all'`` (every appended
            token). Defaults to 'none'.
    """
    tokens: torch.Tensor
    among: str = 'none'


def readonly_attention_mask(length: int,
                            num: int,
                            base: Optional[torch.Tensor] = None,
                            visible: Optional[torch.Tensor] = None,
                            among: str = 'none',
                            dtype: torch.dtype = torch.float32,
                            device=None) -> torch.Tensor:
    """The additive attention mask of ``length`` tokens + ``num`` read-only.

    Rows are queries, columns keys; ``0`` lets a query attend, ``-inf``
    blocks it. The original tokens keep ``base`` among themselves and never
    see the appended ones; an appended token sees the original tokens that
    ``visible`` allows and, among the appended ones, what ``among`` says
    (see :class:`ReadOnlyTokens`).

    Args:
        length (int): Original tokens ``L``.
        num (int): Appended read-only tokens ``P``.
        base (torch.Tensor, optional): ``(L, L)`` additive mask of the
            original tokens (the text tower's causal mask), None for full
            attention. Defaults to None.
        visible (torch.Tensor, optional): ``(N, L)`` bool, the original
            tokens each row's read-only tokens attend to (the text: up to
            the row's EOT); None for all. Defaults to None.
        among (str): ``'none'``, ``'self'`` or ``'all'``. Defaults to
            'none'.
        dtype (torch.dtype): Mask dtype. Defaults to torch.float32.
        device (torch.device, optional): Mask device. Defaults to None.

    Returns:
        torch.Tensor: ``(L + P, L + P)``, or ``(N, L + P, L + P)`` with
        ``visible``.
    """
    if among not in READONLY_ATTENTION:
        raise ValueError(f'ReadOnlyTokens.among={among!r}; choose one of '
                         f'{READONLY_ATTENTION}.')
    total = length + num
    mask = torch.zeros(total, total, dtype=dtype, device=device)
    if base is not None:
        mask[:length, :length] = base[:length, :length].to(dtype)
    mask[:length, length:] = float('-inf')
    if among != 'all':
        mask[length:, length:] = float('-inf')
        if among == 'self':
            mask[length:, length:].fill_diagonal_(0.)
    if visible is None:
        return mask
    mask = mask.unsqueeze(0).repeat(visible.shape[0], 1, 1)
    hidden = ~visible.to(device=mask.device, dtype=torch.bool)
    mask[:, length:, :length].masked_fill_(hidden[:, None, :], float('-inf'))
    return mask


def per_head_mask(mask: torch.Tensor, transformer: nn.Module) -> torch.Tensor:
    """``(N, L, S)`` -> ``(N * heads, L, S)`` as the attention layers take a
    mask per sequence (row ``n * heads + h``); 2-d masks are returned as
    they are."""
    if mask.dim() == 2:
        return mask
    heads = transformer.resblocks[0].attn.num_heads
    return mask.repeat_interleave(heads, dim=0)


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
