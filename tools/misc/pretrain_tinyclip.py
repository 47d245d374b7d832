# Copyright (c) mmprompt contributors. All rights reserved.
"""Pretrain mmprompt's tiny CLIP on procedural textures, contrastively.

This gives the offline world a CLIP that *knows* every procedural DTD class
(base and new) from captioned images, so that prompt learning on a few
downstream shots of the base classes can show real transfer. Images are
rendered in the ``pretrain`` style; the downstream dataset uses another
style. Captions vary: templates, colour and scale words, the class name.

Because a batch holds many images of one class, the contrastive targets are
multi-positive: image i and caption j match when they share the class and
every attribute the caption mentions (colours, scale) is the image's.

Bit-identical for a seed with ``--threads 1``; with more threads the
reduction order of multithreaded kernels changes the last bits. On a 2-core
CPU the default settings (2 threads) run in about 12 minutes::

    python tools/misc/pretrain_tinyclip.py --out \
        mmprompt/models/clip/weights/mmprompt-tinyclip_procdtd.safetensors

The output loads with ``open_clip.create_model('mmprompt-tinyclip',
pretrained=PATH)`` (and as ``pretrained='procdtd'`` once shipped there).
Token embeddings of tokens that never occur in the captions are zeroed, so
the file compresses well; only the embeddings of the caption vocabulary
are trained (a dense 49408-row embedding update would dominate the step).
"""
import argparse
import math
import os
import os.path as osp
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmprompt.models.clip import (OpenCLIPImageEncoder, OpenCLIPTextEncoder,
                                  get_tokenizer)
from mmprompt.offline import (COLOURS, PROCEDURAL_CLASSES, SCALES,
                              render_texture)

MODEL = 'mmprompt-tinyclip'
MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)

# (template, mentions colours, mentions scale). {c}: class name.
TEMPLATES = [
    ('a photo of a {c} texture.', False, False),
    ('{c} texture.', False, False),
    ('a {c} pattern.', False, False),
    ('a close-up photo of a {c} surface.', False, False),
    ('this texture is {c}.', False, False),
    ('{c}', False, False),
    ('a {s} {c} pattern.', False, True),
    ('a photo of a {s} {c} texture.', False, True),
    ('a {fg} {c} texture.', True, False),
    ('{fg} and {bg} {c} texture.', True, False),
    ('a {c} pattern in {fg} on a {bg} background.', True, False),
    ('a high resolution photo of a {s} {fg} and {bg} {c} texture, '
     'taken close up in good light.', True, True),
]


def render_pool(per_class, size, seed, style):
    """Render ``per_class`` images of every class, deterministically."""
    images, labels, colours, scales = [], [], [], []
    for label, name in enumerate(PROCEDURAL_CLASSES):
        for i in range(per_class):
            rng = np.random.default_rng([seed, label, i])
            image, attrs = render_texture(name, rng, size=size, style=style)
            images.append(image)
            labels.append(label)
            colours.append(tuple(attrs['colours']))
            scales.append(attrs['scale'])
    images = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2)
    return images, torch.tensor(labels), colours, scales


def normalise(images):
    return (images.float() / 255. - MEAN) / STD


def write_caption(rng, label, colour, scale):
    """A random caption of an image; returns the text and what it names."""
    template, names_colour, names_scale = TEMPLATES[rng.integers(
        len(TEMPLATES))]
    name = PROCEDURAL_CLASSES[label]
    text = template.format(c=name, fg=colour[0], bg=colour[1], s=scale)
    return text, (label, colour if names_colour else None,
                  scale if names_scale else None)


def match_matrix(keys, colours, scales, labels):
    """(B, B) bool: caption j (keys[j]) describes image i."""
    cap_label = torch.tensor([k[0] for k in keys])
    match = labels[:, None] == cap_label[None, :]
    for j, (_, colour, scale) in enumerate(keys):
        if colour is not None:
            match[:, j] &= torch.tensor([c == colour for c in colours])
        if scale is not None:
            match[:, j] &= torch.tensor([s == scale for s in scales])
    return match


def soft_cross_entropy(logits, targets):
    targets = targets / targets.sum(dim=1, keepdim=True)
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


class TinyCLIP(torch.nn.Module):
    """The two towers of the adapter, trainable, with a small vocabulary."""

    def __init__(self, vocab):
        super().__init__()
        self.image = OpenCLIPImageEncoder(MODEL, frozen=False)
        self.text = OpenCLIPTextEncoder(MODEL, frozen=False)
        self.text.token_embedding.weight.requires_grad_(False)
        self.vocab = torch.tensor(sorted(vocab))
        self.index = torch.zeros(
            self.text.token_embedding.num_embeddings, dtype=torch.long)
        self.index[self.vocab] = torch.arange(len(self.vocab))
        self.rows = torch.nn.Parameter(
            self.text.token_embedding.weight[self.vocab].clone())
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(1 / .07)))

    def encode_image(self, images):
        return F.normalize(self.image(normalise(images))[0], dim=-1)

    def encode_text(self, tokens):
        return F.normalize(
            self.text(self.rows[self.index[tokens]], tokens), dim=-1)

    def open_clip_state_dict(self):
        """open_clip's CLIP keys; embeddings outside the vocabulary zeroed."""
        state = {
            f'visual.{k}': v
            for k, v in self.image.visual.state_dict().items()
        }
        state.update(self.text.state_dict())
        embedding = torch.zeros_like(state['token_embedding.weight'])
        embedding[self.vocab] = self.rows.detach()
        state['token_embedding.weight'] = embedding
        state['logit_scale'] = self.logit_scale.detach()
        return {k: v.detach().clone() for k, v in state.items()}


def caption_vocabulary(tokenizer):
    """Every token any caption, class prompt or CoOp placeholder can use."""
    texts = ['X', 'a photo of a'
             ] + [f'{c} texture.' for c in PROCEDURAL_CLASSES]
    for template, _, _ in TEMPLATES:
        for c in PROCEDURAL_CLASSES:
            texts.append(
                template.format(
                    c=c, fg=' '.join(COLOURS), bg='', s=' '.join(SCALES)))
    return set(tokenizer(texts).unique().tolist())


@torch.no_grad()
def zero_shot_accuracy(model, tokenizer, images, labels, batch=512):
    model.eval()
    text = model.encode_text(
        tokenizer([f'{c} texture.' for c in PROCEDURAL_CLASSES]))
    correct = 0
    for start in range(0, len(images), batch):
        feats = model.encode_image(images[start:start + batch])
        pred = (feats @ text.t()).argmax(dim=1)
        correct += (pred == labels[start:start + batch]).sum().item()
    model.train()
    return 100. * correct / len(images)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='.safetensors or .pt')
    parser.add_argument('--steps', type=int, default=900)
    parser.add_argument('--batch-size', type=int, default=128)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--weight-decay', type=float, default=0.1)
    parser.add_argument('--warmup', type=int, default=50)
    parser.add_argument('--pool-per-class', type=int, default=400)
    parser.add_argument('--eval-per-class', type=int, default=40)
    parser.add_argument('--eval-interval', type=int, default=150)
    parser.add_argument('--log-interval', type=int, default=25)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    # Tiny Adam moments of rarely used token embeddings become denormal
    # floats, which are ~100x slower on CPUs.
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    start = time.time()
    tokenizer = get_tokenizer(MODEL)
    model = TinyCLIP(caption_vocabulary(tokenizer)).train()
    size = model.image.visual.image_size[0]

    pool, pool_labels, pool_colours, pool_scales = render_pool(
        args.pool_per_class, size, args.seed, 'pretrain')
    # Held-out images (other seeds) in both styles, for monitoring.
    held = {
        style:
        render_pool(args.eval_per_class, size, args.seed + 1000 + k, style)[:2]
        for k, style in enumerate(('pretrain', 'downstream'))
    }
    print(
        f'rendered {len(pool)} training images in '
        f'{time.time() - start:.0f} s',
        flush=True)

    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    decay = [p for n, p in params if p.ndim >= 2 and n != 'rows']
    no_decay = [p for n, p in params if not (p.ndim >= 2 and n != 'rows')]
    optimizer = torch.optim.AdamW([
        dict(params=decay, weight_decay=args.weight_decay),
        dict(params=no_decay, weight_decay=0.)
    ],
                                  lr=args.lr,
                                  betas=(0.9, 0.98),
                                  eps=1e-6)

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        progress = (step - args.warmup) / max(1, args.steps - args.warmup)
        return args.lr * 0.5 * (1 + math.cos(math.pi * progress))

    for step in range(args.steps):
        for group in optimizer.param_groups:
            group['lr'] = lr_at(step)
        idx = torch.from_numpy(
            rng.choice(len(pool), args.batch_size, replace=False))
        images = pool[idx]
        flip = torch.from_numpy(rng.random(len(idx)) < 0.5)
        images[flip] = images[flip].flip(-1)
        labels = pool_labels[idx]
        colours = [pool_colours[i] for i in idx.tolist()]
        scales = [pool_scales[i] for i in idx.tolist()]
        captions, keys = zip(*[
            write_caption(rng, int(labels[k]), colours[k], scales[k])
            for k in range(len(idx))
        ])
        image_feats = model.encode_image(images)
        text_feats = model.encode_text(tokenizer(list(captions)))
        logits = model.logit_scale.exp() * image_feats @ text_feats.t()
        targets = match_matrix(keys, colours, scales, labels).float()
        loss = (soft_cross_entropy(logits, targets) +
                soft_cross_entropy(logits.t(), targets.t())) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if step % args.log_interval == 0 or step == args.steps - 1:
            print(
                f'step {step:4d}  loss {loss.item():.4f}  lr '
                f'{lr_at(step):.2e}  {time.time() - start:.0f} s',
                flush=True)
        if (step + 1) % args.eval_interval == 0 or step == args.steps - 1:
            accs = {
                style: zero_shot_accuracy(model, tokenizer, *held[style])
                for style in held
            }
            print(
                f'  zero-shot "{{}} texture." accuracy: pretrain style '
                f'{accs["pretrain"]:.1f} %, downstream style '
                f'{accs["downstream"]:.1f} % (chance '
                f'{100 / len(PROCEDURAL_CLASSES):.1f} %)',
                flush=True)

    state = model.open_clip_state_dict()
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    if args.out.endswith('.safetensors'):
        from safetensors.torch import save_file
        save_file({
            k: v.half().contiguous()
            for k, v in state.items()
        },
                  args.out,
                  metadata=dict(
                      model=MODEL, seed=str(args.seed), steps=str(args.steps)))
    else:
        torch.save(state, args.out)
    print(f'wrote {args.out} ({osp.getsize(args.out) / 2**20:.1f} MiB, '
          f'{len(model.vocab)} token embeddings kept) after '
          f'{time.time() - start:.0f} s')


if __name__ == '__main__':
    main()
