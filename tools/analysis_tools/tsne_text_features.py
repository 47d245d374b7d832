# Copyright (c) mmprompt contributors. All rights reserved.
"""t-SNE of the class text features of a prompt method, saved as a PNG.

Builds the config's model, binds the class names (and template) of one of
its datasets, and embeds the L2-normalised class text features in 2-D, one
panel per checkpoint (no checkpoint: the prompts as initialised, with
``--seed``). Prints per panel the number of classes and the mean / min /
max pairwise cosine similarity of the features (how spread the classes
are). The DAPT initialisation study plots the text features of the random,
same-ST and different-ST prompts after one epoch::

    python tools/analysis_tools/tsne_text_features.py \\
        configs/dapt/dapt_tinyclip_procdtd.py \\
        work_dirs/{random,same_st,diff_st}/epoch_1.pth \\
        --labels random same_st diff_st --out tsne.png

Needs scikit-learn (``pip install scikit-learn``).
"""
import argparse
import os.path as osp
import sys

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.runner import load_checkpoint  # noqa: E402

from mmprompt.registry import DATASETS, MODELS  # noqa: E402


def pairwise_cosine(feats: np.ndarray) -> tuple:
    """Mean, min and max cosine similarity over pairs of distinct rows."""
    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    sims = unit @ unit.T
    upper = sims[np.triu_indices(len(feats), k=1)]
    return float(upper.mean()), float(upper.min()), float(upper.max())


def text_features(cfg, checkpoint, classes, template, seed):
    """L2-normalised class text features ``(C, D)`` of a model."""
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    model.eval()
    model.head.set_class_names(classes, template=template)
    with torch.no_grad():
        return model.head.text_features().float().cpu().numpy()


def embed(feats: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    try:
        from sklearn.manifold import TSNE
    except ImportError as err:
        raise ImportError('tsne_text_features.py needs scikit-learn: '
                          'pip install scikit-learn') from err
    tsne = TSNE(n_components=2, perplexity=min(perplexity, len(feats) - 1),
                init='pca', random_state=seed)
    return tsne.fit_transform(feats)


def plot(panels, classes, out):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.5 * len(panels), 4.5), squeeze=False)
    colors = plt.get_cmap('tab20')(np.arange(len(classes)) % 20)
    for ax, (label, _, points) in zip(axes[0], panels):
        ax.scatter(points[:, 0], points[:, 1], c=colors, s=30)
        if len(classes) <= 40:
            for name, (x, y) in zip(classes, points):
                ax.annotate(name, (x, y), fontsize=6)
        ax.set_title(label)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoints', nargs='*',
                        help='prompt checkpoints (none: the initial prompts)')
    parser.add_argument('--out', required=True, help='the PNG to write')
    parser.add_argument('--labels', nargs='+', help='one title per panel')
    parser.add_argument('--split', default='test',
                        choices=('train', 'val', 'test'),
                        help='whose class names to bind (default: test)')
    parser.add_argument('--perplexity', type=float, default=30.0)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--save-features', metavar='NPZ',
                        help='also save the features and 2-D points')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    for path in [args.config] + args.checkpoints:
        if not osp.isfile(path):
            parser.error(f'{path} does not exist')
    names = args.labels or [
        osp.join(osp.basename(osp.dirname(p)), osp.basename(p))
        for p in args.checkpoints
    ] or ['init']
    if len(names) != max(len(args.checkpoints), 1):
        parser.error(f'{len(names)} --labels for '
                     f'{max(len(args.checkpoints), 1)} panels')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    loader = cfg.get(f'{args.split}_dataloader')
    if not loader:
        parser.error(f'{args.config} has no {args.split}_dataloader; pick '
                     'another --split')
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmprompt')):
        dataset = DATASETS.build(loader.dataset)
        metainfo = dataset.metainfo
        classes = list(metainfo.get('classes') or [])
        if len(classes) < 3:
            parser.error(f'the {args.split} dataset has {len(classes)} '
                         'classes; t-SNE needs at least 3')
        panels = []
        for label, ckpt in zip(names, args.checkpoints or [None]):
            feats = text_features(cfg, ckpt, classes,
                                  metainfo.get('template'), args.seed)
            mean, low, high = pairwise_cosine(feats)
            print(f'{label}: {len(classes)} classes, pairwise cosine mean '
                  f'{mean:.4f} min {low:.4f} max {high:.4f}')
            panels.append((label, feats,
                           embed(feats, args.perplexity, args.seed)))
    plot(panels, classes, args.out)
    print(f'wrote {args.out}')
    if args.save_features:
        np.savez(args.save_features, labels=np.array(names),
                 classes=np.array(classes),
                 features=np.stack([p[1] for p in panels]),
                 points=np.stack([p[2] for p in panels]))


if __name__ == '__main__':
    main()
