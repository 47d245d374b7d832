# Copyright (c) mmprompt contributors. All rights reserved.
"""Time one training iteration (forward, backward, optimiser step) of configs.

Builds each config's model (``--random-weights`` sets every ``pretrained``
in it to None, so it runs offline), binds synthetic class names, and times
``model.train_step`` with the config's own optimiser wrapper on random
images of the backbone's input size (instance-wise prompts get
``--num-classes`` classes of their configured shots). Prints one row per
config with the trainable parameters, ms per iteration (mean ± std) and the
ratio to the first config. Example (MaPLe vs CoOp, ViT-B/16 on CPU)::

    python tools/analysis_tools/benchmark_train_iter.py \\
        configs/coop/coop_vitb16_dtd.py configs/maple/maple_vitb16_dtd.py \\
        --random-weights --batch-size 4 --num-classes 24 --iters 5

With ``--store`` it times, side by side for each config whose image tower
is frozen and unprompted, the iteration without the feature store, with
exact views on a miss (encode the batch without gradients, write it to a
temporary store, train on the features), on a hit (read the features back,
memory-mapped, and train on them: what a second method or run with the same
seed does) and with fast views (the hit, plus ``--views / --epochs`` of an
encoder pass: V views encoded once for E epochs), and prints the ratios.
For PromptSRC (a prompted tower whose loss also needs the frozen,
unprompted features of the batch) the hit decodes the images and reads only
that frozen target.
The paper's CoOp setting (ViT-B/16, batch 32, DTD's 24 base classes)::

    python tools/analysis_tools/benchmark_train_iter.py \\
        configs/coop/coop_vitb16_dtd.py --random-weights --batch-size 32 \\
        --num-classes 24 --iters 3 --warmup 1 --store
"""
import argparse
import os.path as osp
import resource
import statistics
import time

import torch
from mmengine.config import Config, DictAction
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.structures import DataSample

import mmprompt  # noqa: F401  (registers the modules)
from mmprompt.registry import MODELS


def drop_pretrained(cfg) -> None:
    """Set every ``pretrained`` key of a (nested) config to None."""
    if isinstance(cfg, dict):
        for key, value in cfg.items():
            if key == 'pretrained':
                cfg[key] = None
            else:
                drop_pretrained(value)
    elif isinstance(cfg, (list, tuple)):
        for value in cfg:
            drop_pretrained(value)


def build(config: str, args):
    cfg = Config.fromfile(config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.random_weights:
        drop_pretrained(cfg.model)
    if cfg.model.head.get('type') == 'LinearClsHead':
        raise ValueError(
            f'{config} is a linear probe: it is fitted in closed form by '
            'LinearProbeLoop, not by training iterations; nothing to time.')
    learner_cfg = cfg.model.head.get('prompt_learner') or {}
    if 'num_shots' in learner_cfg:  # instance-wise: sized by the classes
        learner_cfg.num_classes = args.num_classes
    scope = cfg.get('default_scope', 'mmprompt')
    with DefaultScope.overwrite_default_scope(scope):
        model = MODELS.build(cfg.model).to(args.device)
        names = [f'class {i}' for i in range(args.num_classes)]
        model.head.set_class_names(names, 'a photo of a {}.')
        if hasattr(model.head, 'set_prototypes'):  # DAPT: any prototypes
            model.head.set_prototypes(
                torch.randn(len(names), model.head.text_encoder.embed_dim))
        if hasattr(model.head, 'set_instance_labels'):  # K per class
            model.head.set_instance_labels([
                i % len(names)
                for i in range(model.head.prompt_learner.num_instances)
            ])
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    return model, optim_wrapper


def _random_batch(model, args) -> dict:
    """A batch of random images of the backbone's input size."""
    size = model.backbone.visual.image_size
    size = size if isinstance(size, (tuple, list)) else (size, size)
    gen = torch.Generator().manual_seed(0)
    inputs = [
        torch.randint(0, 256, (3, *size), generator=gen, dtype=torch.uint8)
        for _ in range(args.batch_size)
    ]
    labels = torch.randint(
        0, args.num_classes, (args.batch_size, ), generator=gen)
    return dict(
        inputs=inputs,
        # instance y is of class y (instance-wise prompts need sample_idx)
        data_samples=[
            DataSample(metainfo=dict(sample_idx=int(y))).set_gt_label(int(y))
            for y in labels
        ])


def time_config(config: str, args) -> dict:
    model, optim_wrapper = build(config, args)
    model.train()
    data = _random_batch(model, args)
    cuda = args.device.startswith('cuda')
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times = _time(lambda: model.train_step(data, optim_wrapper), args)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if cuda:
        memory = f'{torch.cuda.max_memory_allocated() / 2**20:.0f} MiB (GPU)'
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        memory = f'{peak:.0f} MiB (process peak RSS so far)'
    return dict(
        name=osp.splitext(osp.basename(config))[0],
        trainable=trainable,
        mean=statistics.mean(times),
        std=statistics.stdev(times) if len(times) > 1 else 0.0,
        memory=memory)


def time_store_modes(config: str, args) -> list:
    """Rows ``(mode, mean ms, std ms)`` of the feature-store modes."""
    import tempfile

    from mmprompt.engine.feature_store import (FeatureStore,
                                               frozen_target_reason,
                                               frozen_tower_reason,
                                               tower_features)
    model, optim_wrapper = build(config, args)
    reason = frozen_tower_reason(model)
    target = reason is not None and frozen_target_reason(model) is None
    if reason is not None and not target:
        return [(f'no feature store: {reason}', float('nan'), 0.0)]
    model.train()
    data = _random_batch(model, args)
    images = model.data_preprocessor(data, True)['inputs']
    store = FeatureStore.get_instance(
        f'benchmark-{config}', root=tempfile.mkdtemp(prefix='mmprompt-bench-'))

    def encode():
        return tower_features(model, images).detach().cpu()

    def features_batch(feats):
        if not target:
            return dict(inputs=list(feats), data_samples=data['data_samples'])
        # PromptSRC: the images, with the loss's frozen target stored
        samples = [s.clone() for s in data['data_samples']]
        for sample, feat in zip(samples, feats):
            sample.set_field(feat.clone(), 'frozen_feat')
        return dict(inputs=data['inputs'], data_samples=samples)

    def no_store():
        model.train_step(data, optim_wrapper)

    def miss(step=[0]):  # encode, write, train on the features
        feats = encode()
        step[0] += 1
        store.save(f'miss{step[0]:06d}', feats, {})
        model.train_step(features_batch(feats), optim_wrapper)

    store.save('hit', encode(), {})

    def hit():
        model.train_step(features_batch(store.load('hit')), optim_wrapper)

    rows = []
    hit_name = 'exact views, hit' + (' (frozen target read)' * target)
    for mode, step in (('no store', no_store), ('exact views, miss', miss),
                       (hit_name, hit), ('encoder pass only', encode)):
        times = _time(step, args)
        rows.append((mode, statistics.mean(times),
                     statistics.stdev(times) if len(times) > 1 else 0.0))
    if target:  # fast views need an unprompted tower
        return rows
    hit_ms, encode_ms = rows[2][1], rows[3][1]
    rows.insert(3, (f'fast views ({args.views} views, {args.epochs} epochs)',
                    hit_ms + encode_ms * args.views / args.epochs, 0.0))
    return rows


def _time(step, args) -> list:
    cuda = args.device.startswith('cuda')
    times = []
    for i in range(args.warmup + args.iters):
        if cuda:
            torch.cuda.synchronize()
        start = time.perf_counter()
        step()
        if cuda:
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append((time.perf_counter() - start) * 1000)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--num-classes', type=int, default=50)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument(
        '--random-weights',
        action='store_true',
        help='set every pretrained in the model to None')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    parser.add_argument(
        '--store',
        action='store_true',
        help='also time the feature-store modes (exact miss / hit, fast '
        'views) of configs with a frozen, unprompted image tower')
    parser.add_argument(
        '--views',
        type=int,
        default=10,
        help='fast views per image (with --store)')
    parser.add_argument(
        '--epochs',
        type=int,
        default=200,
        help='training epochs the fast views serve '
        '(with --store; CoOp trains DTD for 200)')
    args = parser.parse_args()
    if args.iters < 1:
        parser.error('--iters must be at least 1')
    for config in args.configs:
        if not osp.isfile(config):
            parser.error(f'config {config} does not exist')
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f'batch {args.batch_size}, {args.num_classes} classes, '
          f'{args.iters} timed iterations after {args.warmup}, device '
          f'{args.device}, {torch.get_num_threads()} threads')
    print('| config | trainable params | ms / iter | vs first | memory |')
    print('| --- | --- | --- | --- | --- |')
    first = None
    for config in args.configs:
        row = time_config(config, args)
        first = first or row['mean']
        print(
            f"| {row['name']} | {row['trainable']:,} | "
            f"{row['mean']:.1f} ± {row['std']:.1f} | "
            f"x{row['mean'] / first:.2f} | {row['memory']} |",
            flush=True)
    if not args.store:
        return
    print()
    print('| config | feature store | ms / iter | speed-up vs no store |')
    print('| --- | --- | --- | --- |')
    for config in args.configs:
        name = osp.splitext(osp.basename(config))[0]
        rows = time_store_modes(config, args)
        base = rows[0][1]
        for mode, mean, std in rows:
            if mean != mean:  # nan: not eligible
                print(f'| {name} | {mode} | - | - |', flush=True)
                continue
            spread = f' ± {std:.1f}' if std else ''
            print(
                f'| {name} | {mode} | {mean:.1f}{spread} | '
                f'x{base / mean:.1f} |',
                flush=True)


if __name__ == '__main__':
    main()
