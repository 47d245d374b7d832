# Copyright (c) mmprompt contributors. All rights reserved.
"""The feature store: entries, keys, bad input, and exact loops on it."""
import copy
import json
import logging
import os
import os.path as osp
from unittest.mock import patch

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import DefaultScope
from mmengine.runner import Runner

from mmprompt.datasets.transforms import LoadCoOpImage
from mmprompt.datasets.views import ViewIndex
from mmprompt.engine.feature_store import (STORE_ENV, FeatureStore,
                                           encoder_fingerprint,
                                           frozen_target_reason,
                                           frozen_tower_reason,
                                           stored_features)
from mmprompt.errors import ConfigError, DataError
from mmprompt.offline import make_synthetic_coop_dataset
from mmprompt.registry import DATASETS, HOOKS, MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs/coop/coop_tiny_synthetic.py')
TEST_PIPELINE = [
    dict(type='LoadCoOpImage'),
    dict(type='ResizeEdge', scale=32, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=32),
    dict(type='PackInputs'),
]


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_coop_dataset(
        root, num_classes=6, images_per_class=(16, 4, 6), seed=3)
    return root


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmprompt'):
        cfg = Config.fromfile(CONFIG)
        return MODELS.build(cfg.model).eval()


def _dataset(data_root, pipeline=TEST_PIPELINE, split='test'):
    return DATASETS.build(
        dict(
            type='CoOpSynthetic',
            data_root=data_root,
            split=split,
            num_shots=16,
            subsample='all',
            pipeline=pipeline))


def _batches(n, size=8):
    return [[list(range(i, min(i + size, n))) for i in range(0, n, size)]]


def _store(tmp_path, name='s'):
    return FeatureStore.get_instance(
        f'test-{tmp_path}-{name}', root=str(tmp_path / 'store'))


class _NoDecode:
    """Count (or forbid) image decoding."""

    def __init__(self, forbid=False):
        self.forbid, self.calls = forbid, 0

    def __enter__(self):
        original = LoadCoOpImage.transform

        def transform(loader, results):
            self.calls += 1
            if self.forbid:
                raise AssertionError(f"decoded {results['img_path']}")
            return original(loader, results)

        self._patch = patch.object(LoadCoOpImage, 'transform', transform)
        self._patch.start()
        return self

    def __exit__(self, *args):
        self._patch.stop()


# The store itself ----------------------------------------------------------
def test_entries_round_trip_memory_mapped_in_their_dtype(tmp_path):
    store = _store(tmp_path)
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        feats = torch.randn(5, 3).to(dtype)
        key = f'ab{dtype}'.replace('torch.', '')
        assert store.load(key) is None
        assert store.save(key, feats, dict(what='x'))
        with patch('numpy.load', wraps=np.load) as load:
            back = store.load(key)
        assert load.call_args.kwargs['mmap_mode'] == 'r'
        assert back.dtype == dtype and torch.equal(back, feats)
    files = os.listdir(osp.join(store.root, 'ab'))
    assert not [f for f in files if f.endswith('.tmp')]
    npy, meta = store.paths('abfloat32')
    with open(meta) as f:
        assert json.load(f)['shape'] == [5, 3]
    # Features without their description: an unfinished write, a miss.
    os.remove(meta)
    assert store.load('abfloat32') is None


def test_concurrent_writers_of_one_entry_leave_a_whole_entry(tmp_path):
    import threading
    feats = torch.randn(200, 64)
    stores = [_store(tmp_path, f'w{i}') for i in range(4)]
    threads = [
        threading.Thread(target=s.save, args=('ff00', feats, dict(i=i)))
        for i, s in enumerate(stores)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert torch.equal(stores[0].load('ff00'), feats)
    assert sorted(os.listdir(osp.join(stores[0].root, 'ff'))) == \
        ['ff00.json', 'ff00.npy']


def test_corrupt_entries_are_errors_that_name_the_file(tmp_path):
    store = _store(tmp_path)
    store.save('cd01', torch.ones(4, 2), {})
    npy, meta = store.paths('cd01')
    with open(npy, 'r+b') as f:
        f.truncate(60)
    with pytest.raises(
            DataError,
            match=r'entry .*cd01.npy does not decode '
            r'as a .npy array .*Delete the entry \(rm .*cd01.npy '
            r'.*cd01.json\) or the whole store'):
        store.load('cd01')
    with open(meta, 'w') as f:
        f.write('{"shape": [4')
    with pytest.raises(DataError, match=r'cd01.json is unreadable'):
        store.load('cd01')
    store.save('cd02', torch.ones(4, 2), {})
    with open(store.paths('cd02')[1], 'w') as f:
        json.dump(dict(shape=[3, 2], dtype='float32'), f)
    with pytest.raises(
            DataError,
            match=r'shape \(4, 2\), but its '
            r'description says \(3, 2\)'):
        store.load('cd02')


def test_unwritable_store_warns_or_fails_when_asked_for(tmp_path, monkeypatch):

    def refuse(*args, **kwargs):
        raise PermissionError(13, 'Permission denied')

    monkeypatch.setattr('tempfile.NamedTemporaryFile', refuse)
    monkeypatch.delenv(STORE_ENV, raising=False)
    monkeypatch.setattr('mmprompt.engine.feature_store.DEFAULT_ROOT',
                        str(tmp_path / 'default'))
    store = FeatureStore.get_instance(f'ro-{tmp_path}')
    assert not store.explicit
    logger = MMLogger.get_current_instance()
    with patch.object(logger, 'log') as log:
        assert not store.writable()
        assert not store.save('ef01', torch.ones(1, 1), {})
    (level, text), _ = log.call_args
    assert level == logging.WARNING
    assert 'cannot be written (Permission denied); features are computed ' \
        'and not stored' in text
    explicit = FeatureStore.get_instance(
        f'ro2-{tmp_path}', root=str(tmp_path / 'mine'))
    with pytest.raises(
            ConfigError,
            match=r'folder .*mine cannot be written '
            r'\(Permission denied\)\. Make it writable'):
        explicit.writable()


def test_a_store_inside_a_data_root_is_refused(tmp_path):
    store = FeatureStore.get_instance(
        f'in-{tmp_path}', root=str(tmp_path / 'data' / 'cache'))
    with pytest.raises(
            ConfigError,
            match=r'is inside the data root .*data; '
            r'mmprompt never writes into a dataset folder'):
        store.check_outside([None, str(tmp_path / 'data')])
    store.check_outside([str(tmp_path / 'other')])


# Keys -------------------------------------------------------------------
def test_every_key_part_invalidates_the_entry(model, data_root, tmp_path):
    store = _store(tmp_path)
    dataset = _dataset(data_root)
    batches = _batches(len(dataset))

    def features(dataset=dataset, batches=batches, amp=None, model=model):
        return stored_features(model, dataset, batches, amp=amp, store=store)

    first = features()
    assert store.stats == dict(hits=0, misses=1, written=1)
    with _NoDecode(forbid=True):
        again = features()
    assert torch.equal(again, first) and store.stats['hits'] == 1
    misses = store.stats['misses']

    def assert_miss(**kwargs):
        nonlocal misses
        features(**kwargs)
        assert store.stats['misses'] == misses + 1, kwargs
        misses += 1

    # another batch layout, another pass (e.g. autocast), another pipeline
    assert_miss(batches=_batches(len(dataset), size=5))
    assert_miss(amp='fp16')
    other = TEST_PIPELINE[:1] + [
        dict(type='Resize', scale=32, backend='pillow')
    ] + TEST_PIPELINE[3:]
    assert_miss(dataset=_dataset(data_root, other))
    # an image touched, then one rewritten with other bytes
    path = dataset.get_data_info(3)['img_path']
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert_miss()
    with open(path, 'ab') as f:
        f.write(b'\0')
    assert_miss()
    # another weight file (one weight changed) or dtype of the encoder
    changed = copy.deepcopy(model)
    assert encoder_fingerprint(changed) == encoder_fingerprint(model)
    with torch.no_grad():
        changed.backbone.visual.proj[0, 0] += 1e-3
    assert_miss(model=changed)
    assert_miss(model=changed.double())


# Loops ------------------------------------------------------------------
def _runner(data_root,
            work_dir,
            epochs=2,
            config=CONFIG,
            edit=None,
            **store_cfg):
    cfg = Config.fromfile(config)
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[name].dataset.data_root = data_root
    if edit is not None:
        edit(cfg)
    cfg.train_cfg.max_epochs = cfg.train_cfg.val_interval = epochs
    cfg.param_scheduler[1].T_max = epochs
    cfg.default_hooks.feature_store.update(store_cfg)
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(work_dir)
    cfg.experiment_name = osp.basename(str(work_dir))
    return Runner.from_cfg(cfg)


def _train_and_test(data_root, work_dir, **store_cfg):
    runner = _runner(data_root, work_dir, **store_cfg)
    with _NoDecode() as decoding:
        runner.train()
        metrics = runner.test()
    ctx = runner.model.head.prompt_learner.ctx.detach().clone()
    hook = next(
        h for h in runner.hooks if type(h).__name__ == 'FeatureStoreHook')
    return metrics, ctx, decoding.calls, hook.store.stats


def test_exact_store_gives_identical_prompts_and_metrics(
        data_root, tmp_path, monkeypatch):
    monkeypatch.setenv(STORE_ENV, str(tmp_path / 'store'))
    off = _train_and_test(data_root, tmp_path / 'off', test=False, val=False)
    miss = _train_and_test(data_root, tmp_path / 'miss', train_views='exact')
    hit = _train_and_test(data_root, tmp_path / 'hit', train_views='exact')
    train, val, test = 48, 24, 36  # images of the synthetic splits
    assert off[2] == 2 * train + val + test
    assert miss[2] == 2 * train + val + test  # encoded once, then stored
    assert miss[3] == dict(hits=0, misses=4, written=4)
    assert hit[2] == 0  # no image decoded at all
    assert hit[3] == dict(hits=4, misses=0, written=0)
    for run in (miss, hit):
        assert run[0] == off[0]
        assert torch.equal(run[1], off[1])


def test_promptsrc_reads_its_frozen_target_from_the_store(
        data_root, tmp_path, monkeypatch):
    """The prompted tower decodes its images; the unprompted target pass of
    the loss is replaced by the stored exact views, bit for bit."""
    monkeypatch.setenv(STORE_ENV, str(tmp_path / 'store'))
    cfg = Config.fromfile(CONFIG)
    cfg.model.type = 'VLPromptClassifier'
    cfg.model.head.type = 'PromptSRCHead'
    cfg.model.head.prompt_learner = dict(
        type='IVLPPromptLearner', n_ctx=2, n_vision_ctx=2, depth=1)
    cfg.model.head.knowledge_prompts = dict(
        type='HandcraftedPrompts', templates=['a photo of a {}.'])
    cfg.train_dataloader.batch_size = 8
    config = str(tmp_path / 'promptsrc.py')
    cfg.dump(config)

    def run(name, **store_cfg):
        runner = _runner(
            data_root, tmp_path / name, config=config, **store_cfg)
        backbone = runner.model.backbone
        calls = []
        forward = backbone.forward

        def counted(x, prompts=None):
            calls.append(prompts is None)
            return forward(x, prompts)

        with patch.object(backbone, 'forward', counted), \
                _NoDecode() as decoding:
            runner.train()
        hook = next(
            h for h in runner.hooks if type(h).__name__ == 'FeatureStoreHook')
        params = {
            k: v.detach().clone()
            for k, v in runner.model.named_parameters() if v.requires_grad
        }
        return params, sum(calls), decoding.calls, hook.store.stats, runner

    off = run('off', test=False, val=False)
    miss = run('miss', test=False, val=False, train_views='exact')
    hit = run('hit', test=False, val=False, train_views='exact')
    steps = 2 * 48 // 8  # 2 epochs of the 48 training images, batch 8
    assert off[1] == steps  # one unprompted target pass per step
    assert miss[1] == steps  # the same batches, encoded for the store
    assert hit[1] == 0  # read from the store
    assert off[2] == 2 * 48 + 24  # training views and one validation
    assert miss[2] == 2 * (2 * 48) + 24  # encoded, then decoded
    assert hit[2] == 2 * 48 + 24  # the prompted tower needs the pixels
    assert miss[3] == dict(hits=0, misses=2, written=2)
    assert hit[3] == dict(hits=2, misses=0, written=0)
    assert len(off[0]) > 1  # text and visual prompts
    for run_ in (miss, hit):
        assert run_[0].keys() == off[0].keys()
        for name, value in off[0].items():
            assert torch.equal(run_[0][name], value), name
    assert frozen_tower_reason(hit[4].model) == \
        'IVLPPromptLearner prompts the image encoder'


def test_fast_views_encode_each_image_v_times(data_root, tmp_path,
                                              monkeypatch):
    monkeypatch.setenv(STORE_ENV, str(tmp_path / 'store'))
    exact = _train_and_test(
        data_root, tmp_path / 'exact', epochs=3, test=False, val=False)
    fast = _train_and_test(
        data_root, tmp_path / 'fast', epochs=3, train_views=2)
    assert fast[2] == 2 * 48 + 24 + 36  # 2 views, not 3 epochs
    assert fast[3]['misses'] == 4  # 2 views, val, test
    # An approximation: close to, not equal to, exact training.
    assert not torch.equal(fast[1], exact[1])
    assert (fast[1] - exact[1]).abs().max() < 0.05


def test_stored_training_views_need_seeded_views(data_root, tmp_path,
                                                 monkeypatch):
    """Views that their ViewIndex does not draw would be stored as if they
    were exact: refused before anything is encoded."""
    monkeypatch.setenv(STORE_ENV, str(tmp_path / 'store'))

    def plain_sampler(cfg):
        cfg.train_dataloader.sampler = dict(
            type='DefaultSampler', shuffle=True)

    def repeated(cfg):
        cfg.train_dataloader.dataset = dict(
            type='RepeatDataset',
            times=2,
            dataset=cfg.train_dataloader.dataset)

    runner = _runner(
        data_root, tmp_path / 'plain', edit=plain_sampler, train_views='exact')
    with pytest.raises(
            ConfigError,
            match=r"train_views='exact' stores the "
            r'views of seeded indices, but the training sampler '
            r'\(DefaultSampler\) yields plain ints \(index \d+\)'
            r'.*sampler=dict\(type=.ViewSampler.\)'):
        runner.train()
    for views in ('exact', 2):
        runner = _runner(
            data_root,
            tmp_path / f'rep{views}',
            edit=repeated,
            train_views=views)
        with pytest.raises(
                ConfigError,
                match=r'RepeatDataset hands the '
                r'datasets it wraps plain int indices.*'
                r'train_views=None'):
            runner.train()
    stored = [
        name for _, _, names in os.walk(tmp_path / 'store') for name in names
        if name.endswith('.npy')
    ]
    assert stored == []
    # The same sampler without stored views trains (views from the global
    # generators, as mmengine draws them).
    runner = _runner(data_root, tmp_path / 'plain_off', edit=plain_sampler)
    runner.train()


def test_models_that_prompt_the_image_tower_are_left_alone(model):
    assert frozen_tower_reason(model) is None
    assert frozen_target_reason(model) == \
        'the loss needs no frozen image features'
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/ivlp/ivlp_tinyclip_procdtd.py'))
    with DefaultScope.overwrite_default_scope('mmprompt'):
        ivlp = MODELS.build(cfg.model)
    assert frozen_tower_reason(ivlp) == \
        'IVLPPromptLearner prompts the image encoder'
    model.backbone.frozen = False
    try:
        assert frozen_tower_reason(model) == \
            'the image encoder trains (frozen=False)'
    finally:
        model.backbone.frozen = True
    hook = HOOKS.build(dict(type='FeatureStoreHook', train_views='exact'))
    assert hook.train_views == 'exact'
    with pytest.raises(
            ConfigError,
            match=r"train_views must be None \(off\)"
            r", 'exact' or a positive number of views, not 0"):
        HOOKS.build(dict(type='FeatureStoreHook', train_views=0))


def test_preprocessor_passes_features_and_processes_images(model):
    from mmpretrain.structures import DataSample
    pre = model.data_preprocessor
    feats = [torch.randn(64) for _ in range(3)]
    samples = [DataSample().set_gt_label(i) for i in range(3)]
    out = pre(dict(inputs=feats, data_samples=samples))
    assert torch.equal(out['inputs'], torch.stack(feats))
    assert [int(s.gt_label) for s in out['data_samples']] == [0, 1, 2]
    assert torch.equal(model.backbone(out['inputs'])[0], out['inputs'])
    images = [torch.randint(0, 255, (3, 32, 32), dtype=torch.uint8)]
    out = pre(dict(inputs=images, data_samples=samples[:1]))
    assert out['inputs'].shape == (1, 3, 32, 32)
    with pytest.raises(ConfigError, match='width 5, but stored features'):
        model.backbone(torch.randn(2, 5))


def test_view_indices_key_their_draw(model, data_root, tmp_path):
    store = _store(tmp_path)
    train_pipeline = Config.fromfile(CONFIG).train_dataloader.dataset.pipeline
    dataset = _dataset(data_root, train_pipeline, split='train')
    views = [[[ViewIndex(i, 1, 0) for i in range(8)]]]
    first = stored_features(model, dataset, views, store=store)
    other = stored_features(
        model,
        dataset, [[[ViewIndex(i, 1, 1) for i in range(8)]]],
        store=store)
    assert store.stats['misses'] == 2  # epoch 1's views are other views
    assert not torch.equal(first, other)
    with _NoDecode(forbid=True):
        assert torch.equal(
            stored_features(model, dataset, views, store=store), first)
