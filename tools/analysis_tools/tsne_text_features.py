# Copyright (c) mmprompt contributors. All rights reserved.
"""t-SNE of the class text features of a prompt method, saved as a PNG.

Builds the config's model, binds the class names (and template) of one of
its datasets as ``SetClassNamesHook`` does, and embeds the L2-normalised
class text features in 2-D, one panel per checkpoint side by side. Without
a checkpoint the panel shows the prompts as initialised: the model is built
after seeding with the config's ``randomness.seed`` (as ``tools/train.py``
does; ``--seed`` if the config sets none). Prints per panel the number of
classes and the mean / min / max pairwise cosine similarity of the features
(how spread the classes are). The DAPT initialisation study plots the text
features of the random, same-ST and different-ST prompts after one epoch::

    python tools/analysis_tools/tsne_text_features.py \\
        configs/dapt/dapt_tinyclip_procdtd.py \\
        work_dirs/{random,same_st,diff_st}/epoch_1.pth \\
        --labels random same_st diff_st --out tsne.png

Only the split file of the dataset is read (the dataset is built with
``lazy_init=True`` where it supports it), so the images need not be there.
Needs scikit-learn (``pip install scikit-learn``).
"""
import argparse
import copy
import os.path as osp
import re
import sys

import numpy as np
import torch

sys.path.insert(0,
                osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import DefaultScope  # noqa: E402
from mmengine.runner import load_checkpoint, set_random_seed  # noqa: E402

from mmprompt.registry import DATASETS, MODELS  # noqa: E402

#: Panels with at most this many classes get class-name annotations.
MAX_ANNOTATED_CLASSES = 40


def tsne_class():
    """Return scikit-learn's ``TSNE``, with an install hint if it is missing.

    Returns:
        type: :class:`sklearn.manifold.TSNE`.
    """
    try:
        from sklearn.manifold import TSNE
    except ImportError as err:
        raise ImportError('tsne_text_features.py needs scikit-learn: '
                          'pip install scikit-learn') from err
    return TSNE


def pairwise_cosine(feats: np.ndarray) -> tuple:
    """Cosine similarity statistics over the pairs of distinct rows.

    Args:
        feats (np.ndarray): ``(C, D)`` features, ``C >= 2``.

    Returns:
        tuple[float, float, float]: The mean, min and max cosine similarity
        of the ``C * (C - 1) / 2`` pairs.
    """
    unit = feats / np.linalg.norm(feats, axis=1, keepdims=True)
    sims = unit @ unit.T
    upper = sims[np.triu_indices(len(feats), k=1)]
    return float(upper.mean()), float(upper.min()), float(upper.max())


def init_seed(cfg: Config, seed: int) -> tuple:
    """The seed the model is built with, and where it comes from.

    Args:
        cfg (Config): The config.
        seed (int): The ``--seed`` of the command line.

    Returns:
        tuple[int, str]: The config's ``randomness.seed`` if it sets one,
        else ``seed``; and ``'randomness.seed'`` or ``'--seed'``.
    """
    cfg_seed = (cfg.get('randomness') or {}).get('seed')
    if cfg_seed is not None:
        return int(cfg_seed), 'randomness.seed'
    return seed, '--seed'


def dataset_metainfo(dataset_cfg: dict) -> dict:
    """The metainfo of a dataset, built without loading its data if it can.

    Args:
        dataset_cfg (dict): The dataset config (``<split>_dataloader
            .dataset``).

    Returns:
        dict: ``dataset.metainfo``.
    """
    lazy_cfg = copy.deepcopy(dataset_cfg)
    lazy_cfg.setdefault('lazy_init', True)
    try:
        dataset = DATASETS.build(lazy_cfg)
    except TypeError:  # a dataset (wrapper) without ``lazy_init``
        dataset = DATASETS.build(dataset_cfg)
    if not dataset.metainfo.get('classes') and callable(
            getattr(dataset, 'full_init', None)):
        dataset.full_init()  # classes read from the annotations
    return dict(dataset.metainfo)


def load_prompts(model: torch.nn.Module, checkpoint: str) -> None:
    """Load a checkpoint as ``tools/test.py`` does, refusing a foreign one.

    mmengine loads non-strictly and only warns about keys or shapes that do
    not match; a checkpoint none of whose tensors fits the model (another
    method's, or another prompt length) would silently leave the initial
    prompts in place, so that is an error here.

    Args:
        model (nn.Module): The model built from the config.
        checkpoint (str): The checkpoint file (mmengine format,
            ``{'state_dict': ...}``, or a bare state dict).

    Raises:
        ValueError: If no tensor of the checkpoint fits the model.
    """
    ckpt = load_checkpoint(
        model, checkpoint, map_location='cpu', logger='current')
    state = ckpt.get('state_dict', ckpt)
    tensors = dict(model.named_parameters())
    tensors.update(model.named_buffers())
    loaded = [
        key for key, value in state.items() if torch.is_tensor(value)
        and getattr(tensors.get(re.sub(r'^module\.', '', key)), 'shape',
                    None) == value.shape
    ]
    if not loaded:
        keys = ', '.join(list(state)[:3]) or 'none'
        raise ValueError(
            f'no tensor of {checkpoint} fits the model of the config (its '
            f'keys: {keys}, ...); is it a checkpoint of this method, with '
            'the same prompt sizes?')


def text_features(cfg: Config, checkpoint, classes, template,
                  seed: int) -> np.ndarray:
    """The class text features of the model, as the head computes them.

    Args:
        cfg (Config): The config; ``cfg.model`` is built.
        checkpoint (str, optional): Checkpoint to load; None keeps the
            initial prompts.
        classes (Sequence[str]): Class names in label order.
        template (str, optional): The dataset's template.
        seed (int): Seed set before the model is built.

    Returns:
        np.ndarray: ``(C, D)`` L2-normalised features, float32.
    """
    set_random_seed(seed)
    model = MODELS.build(cfg.model)
    head = getattr(model, 'head', None)
    if not (callable(getattr(head, 'set_class_names', None))
            and callable(getattr(head, 'text_features', None))):
        raise TypeError(
            f'{type(model).__name__} has no prompt head: the tool needs '
            '`model.head.set_class_names(classnames, template=None)` and '
            '`model.head.text_features()` (e.g. PromptClsHead).')
    if checkpoint:
        load_prompts(model, checkpoint)
    model.eval()
    # The call SetClassNamesHook makes before a test epoch.
    head.set_class_names(list(classes), template=template)
    with torch.no_grad():
        return head.text_features().float().cpu().numpy()


def embed(feats: np.ndarray, perplexity: float, seed: int) -> np.ndarray:
    """2-D t-SNE embedding of the features (PCA initialisation).

    Args:
        feats (np.ndarray): ``(C, D)`` features, ``C >= 3``.
        perplexity (float): t-SNE perplexity, capped at ``C - 1``.
        seed (int): ``random_state`` of the t-SNE.

    Returns:
        np.ndarray: ``(C, 2)`` points.
    """
    tsne = tsne_class()(
        n_components=2,
        perplexity=min(perplexity,
                       len(feats) - 1),
        init='pca',
        random_state=seed)
    # threadpoolctl comes with scikit-learn. A few hundred points gain
    # nothing from threads, and on a busy machine Barnes-Hut's OpenMP
    # threads wait on each other: 29 classes took 40 s on 2 loaded cores,
    # 0.1 s with one thread.
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api='openmp'):
        return tsne.fit_transform(feats)


def plot(panels, classes, out: str) -> None:
    """Draw one scatter panel per checkpoint, side by side, into ``out``.

    Args:
        panels (list[tuple]): ``(title, features, points)`` per panel.
        classes (Sequence[str]): Class names; a point's colour follows its
            class (``tab20``, cycling), names are written next to the
            points when there are at most ``MAX_ANNOTATED_CLASSES``.
        out (str): The image file to write (PNG).
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(
        1, len(panels), figsize=(4.5 * len(panels), 4.5), squeeze=False)
    colors = plt.get_cmap('tab20')(np.arange(len(classes)) % 20)
    for ax, (label, _, points) in zip(axes[0], panels):
        ax.scatter(points[:, 0], points[:, 1], c=colors, s=30)
        if len(classes) <= MAX_ANNOTATED_CLASSES:
            for name, (x, y) in zip(classes, points):
                ax.annotate(name, (x, y), fontsize=6)
        ax.set_title(label)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)


def parse_args(argv=None):
    """Parse the command line.

    Args:
        argv (list[str], optional): Arguments; None reads ``sys.argv``.

    Returns:
        tuple[argparse.ArgumentParser, argparse.Namespace]: The parser (for
        its ``error``) and the parsed arguments.
    """
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument(
        'checkpoints',
        nargs='*',
        help='prompt checkpoints, one panel each (none: the '
        'initial prompts)')
    parser.add_argument('--out', required=True, help='the PNG to write')
    parser.add_argument(
        '--labels',
        nargs='+',
        help='one title per panel (default: <folder>/<file> '
        "of each checkpoint, 'init' without one)")
    parser.add_argument(
        '--split',
        default='test',
        choices=('train', 'val', 'test'),
        help='whose class names to bind (default: test)')
    parser.add_argument(
        '--perplexity',
        type=float,
        default=30.0,
        help='t-SNE perplexity, capped at classes - 1')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='t-SNE random state, and the model seed when the '
        'config sets no randomness.seed (default: 0)')
    parser.add_argument(
        '--save-features',
        metavar='NPZ',
        help='also save labels, classes, features (N, C, D) '
        'and 2-D points (N, C, 2)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, as key=value '
        'pairs, e.g. test_dataloader.dataset.data_root=DIR')
    return parser, parser.parse_args(argv)


def main(argv=None):
    parser, args = parse_args(argv)
    for path in [args.config] + args.checkpoints:
        if not osp.isfile(path):
            parser.error(f'{path} does not exist')
    names = args.labels or [
        osp.join(osp.basename(osp.dirname(osp.abspath(p))), osp.basename(p))
        for p in args.checkpoints
    ] or ['init']
    if len(names) != max(len(args.checkpoints), 1):
        parser.error(f'{len(names)} --labels for '
                     f'{max(len(args.checkpoints), 1)} panels')
    try:
        tsne_class()  # fail before building anything
    except ImportError as err:
        sys.exit(f'error: {err}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    loader = cfg.get(f'{args.split}_dataloader')
    if not loader:
        parser.error(f'{args.config} has no {args.split}_dataloader; pick '
                     'another --split')
    seed, seed_from = init_seed(cfg, args.seed)
    panels = []
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmprompt')):
        metainfo = dataset_metainfo(loader.dataset)
        classes = list(metainfo.get('classes') or [])
        if len(classes) < 3:
            parser.error(f'the {args.split} dataset has {len(classes)} '
                         'classes; t-SNE needs at least 3')
        if not args.checkpoints:
            print(f'initial prompts: model built with seed {seed} '
                  f'({seed_from})')
        for label, ckpt in zip(names, args.checkpoints or [None]):
            feats = text_features(cfg, ckpt, classes, metainfo.get('template'),
                                  seed)
            mean, low, high = pairwise_cosine(feats)
            print(f'{label}: {len(classes)} classes, pairwise cosine mean '
                  f'{mean:.4f} min {low:.4f} max {high:.4f}')
            panels.append(
                (label, feats, embed(feats, args.perplexity, args.seed)))
    plot(panels, classes, args.out)
    print(f'wrote {args.out}')
    if args.save_features:
        np.savez(
            args.save_features,
            labels=np.array(names),
            classes=np.array(classes),
            features=np.stack([p[1] for p in panels]),
            points=np.stack([p[2] for p in panels]))
        print(f'wrote {args.save_features}')


if __name__ == '__main__':
    main()
