# Copyright (c) mmprompt contributors. All rights reserved.
"""Time the prompt text encoder at full context vs truncated to max(EOT)+1.

Prints forward and forward+backward (one CoOp step) times for a class list
of DTD's size, with random weights (no download). Example::

    python tools/analysis_tools/benchmark_text_encoder.py --model ViT-B-16
"""
import argparse
import time

import torch

from mmprompt.models import OpenCLIPTextEncoder
from mmprompt.registry import MODELS

# DTD's 47 class names, the longest prompt set of the CoOp protocol's DTD.
DTD_CLASSES = (
    'banded blotchy braided bubbly bumpy chequered cobwebbed cracked '
    'crosshatched crystalline dotted fibrous flecked freckled frilly gauzy '
    'grid grooved honeycombed interlaced knitted lacelike lined marbled '
    'matted meshed paisley perforated pitted pleated polka-dotted porous '
    'potholed scaly smeared spiralled sprinkled stained stratified striped '
    'studded swirly veined waffled woven wrinkled zigzagged').split()


def timeit(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1000


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', default='ViT-B-16')
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--device', default='cpu')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f'model {args.model}, random weights, {len(DTD_CLASSES)} prompts, '
          f'device {args.device}, {torch.get_num_threads()} threads')
    for truncate in (False, True):
        encoder = OpenCLIPTextEncoder(
            model_name=args.model, truncate=truncate).to(args.device)
        learner = MODELS.build(
            dict(type='CoOpPromptLearner', text_encoder=encoder))
        learner.set_class_names(DTD_CLASSES, encoder)
        length = learner.tokens.shape[1] if truncate else \
            encoder.context_length

        def forward():
            with torch.no_grad():
                learner(encoder)
            if args.device.startswith('cuda'):
                torch.cuda.synchronize()

        def step():
            learner.ctx.grad = None
            learner(encoder).sum().backward()
            if args.device.startswith('cuda'):
                torch.cuda.synchronize()

        fwd = timeit(forward, args.repeats)
        fwd_bwd = timeit(step, args.repeats)
        print(f'context {length:3d} tokens: forward {fwd:8.1f} ms   '
              f'forward+backward {fwd_bwd:8.1f} ms')


if __name__ == '__main__':
    main()
