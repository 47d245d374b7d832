# Copyright (c) mmprompt contributors. All rights reserved.
"""Statistics of prompt tokens per initialisation (and of trained prompts).

For each initialiser (phrase, random, same_st, diff_st) prints the mean,
std, min and max of the first prompt token and of all tokens, as the DAPT
initialisation study tabulates them; ``--checkpoint`` adds the learned
context of prompt checkpoints. The random initialisers draw one after the
other from one stream seeded once with ``--seed``, so each draws its own
noise (same_st's first token is not diff_st's) and the table is
reproducible. ``--noise`` picks the ST noise: RPO's unit vector times
``--scale`` (default) or the DAPT seed's ``N(0, scale^2 I)``. Example (the
shipped tiny CLIP)::

    python tools/analysis_tools/prompt_init_stats.py \\
        --model mmprompt-tinyclip --pretrained procdtd
    python tools/analysis_tools/prompt_init_stats.py --model ViT-B-16 \\
        --pretrained /path/ViT-B-16.pt --checkpoint work_dirs/x/epoch_50.pth
"""
import argparse
import os.path as osp
import sys

import torch

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmprompt.models import OpenCLIPTextEncoder  # noqa: E402
from mmprompt.registry import TASK_UTILS  # noqa: E402

INITS = {
    'phrase': dict(type='PhrasePromptInit', phrase='a photo of a'),
    'random': dict(type='RandomPromptInit', std=0.02),
    'same_st': dict(type='SameSTPromptInit', scale=0.1),
    'diff_st': dict(type='DiffSTPromptInit', scale=0.1),
}


def draw_inits(encoder, n_ctx=16, seed=1, noise='unit', scale=0.1):
    """The initial prompt tokens of every initialiser of :data:`INITS`.

    The global torch generator is seeded once, before the first draw, so
    the initialisers draw independently of each other (reseeding before
    each would give same_st and diff_st the same first noise vector).

    Args:
        encoder (OpenCLIPTextEncoder): The text encoder.
        n_ctx (int): Tokens of the random initialisers. Defaults to 16.
        seed (int): The seed. Defaults to 1.
        noise (str): ST noise, ``'unit'`` or ``'gaussian'``. Defaults to
            'unit'.
        scale (float): ST noise scale (norm, or std for Gaussian noise).
            Defaults to 0.1.

    Returns:
        dict[str, torch.Tensor]: ``(tokens, width)`` per initialiser.
    """
    torch.manual_seed(seed)
    out = {}
    for name, cfg in INITS.items():
        if name.endswith('_st'):
            cfg = dict(cfg, noise=noise, scale=scale)
        init = TASK_UTILS.build(cfg)
        out[name] = init(encoder, init.default_num_tokens(encoder) or n_ctx)
    return out


def stats(tokens):
    """mean / std / min / max of the first token and of all tokens."""
    first = tokens[0]
    return [
        f'{v:+.4f}' for t in (first, tokens)
        for v in (t.mean(), t.std(), t.min(), t.max())
    ]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', default='mmprompt-tinyclip')
    parser.add_argument(
        '--pretrained',
        default='procdtd',
        help="open_clip tag or file; 'none' = random weights")
    parser.add_argument('--n-ctx', type=int, default=16)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument(
        '--noise',
        choices=['unit', 'gaussian'],
        default='unit',
        help="ST noise: 'unit' (RPO) or 'gaussian' (DAPT "
        'seed, Algorithm 1)')
    parser.add_argument(
        '--scale',
        type=float,
        default=0.1,
        help='ST noise norm (unit) or std (gaussian)')
    parser.add_argument(
        '--checkpoint',
        nargs='*',
        default=[],
        help='prompt checkpoints (head.prompt_learner.ctx)')
    args = parser.parse_args(argv)
    pretrained = None if args.pretrained == 'none' else args.pretrained
    encoder = OpenCLIPTextEncoder(model_name=args.model, pretrained=pretrained)
    header = ('init', 'tok1 mean', 'tok1 std', 'tok1 min', 'tok1 max',
              'all mean', 'all std', 'all min', 'all max')
    rows = []
    draws = draw_inits(encoder, args.n_ctx, args.seed, args.noise, args.scale)
    for name, tokens in draws.items():
        rows.append([name] + stats(tokens))
    for path in args.checkpoint:
        state = torch.load(path, map_location='cpu', weights_only=False)
        ctx = state.get('state_dict', state)['head.prompt_learner.ctx']
        rows.append([osp.basename(path)] +
                    stats(ctx.reshape(-1, ctx.shape[-1]).float()))
    print('| ' + ' | '.join(header) + ' |')
    print('|' + ' --- |' * len(header))
    for row in rows:
        print('| ' + ' | '.join(row) + ' |')


if __name__ == '__main__':
    main()
