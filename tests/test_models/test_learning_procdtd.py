# Copyright (c) mmprompt contributors. All rights reserved.
"""Learning tests in the offline world: mmprompt's pretrained tiny CLIP on a
small cut of the procedural mini-DTD (downstream style).

They fail if the shipped CLIP knew nothing (zero-shot near chance) or if the
prompt learner did not learn (CoOp no better than zero-shot on the base
classes it was trained on).
"""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmprompt.offline import PROCEDURAL_CLASSES, make_procedural_dataset

# Subprocess runs or full training runs: `pytest -m "not slow"` skips them.
pytestmark = pytest.mark.slow

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NUM_BASE = (len(PROCEDURAL_CLASSES) + 1) // 2
NUM_NEW = len(PROCEDURAL_CLASSES) - NUM_BASE
EPOCHS = 15  # meta-training epochs of the learning test


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('procdtd'))
    make_procedural_dataset(root, num_train=16, num_val=2, num_test=12, seed=7)
    return root


def _run(config, data_root, work_dir, train_epochs=None, options=None):
    cfg = Config.fromfile(osp.join(REPO, config))
    cfg.merge_from_dict(options or {})
    cfg.work_dir = str(work_dir)
    for split in ('train', 'val', 'test'):
        loader = cfg.get(f'{split}_dataloader')
        if loader:
            loader.dataset.data_root = data_root
    cfg.default_hooks.logger.interval = 50
    if train_epochs:
        cfg.train_cfg.max_epochs = train_epochs
        cfg.train_cfg.val_interval = train_epochs + 1  # no validation
        cfg.param_scheduler[1].T_max = train_epochs
        cfg.default_hooks.checkpoint.interval = train_epochs
        runner = Runner.from_cfg(cfg)
        runner.train()
        return runner.test(), runner
    return Runner.from_cfg(cfg).test()


@pytest.fixture(scope='module')
def zero_shot(data_root, tmp_path_factory):
    return _run('configs/zeroshot/clip_tinyclip_procdtd.py', data_root,
                tmp_path_factory.mktemp('zs'))


def test_pretrained_tiny_clip_knows_base_and_new_classes(zero_shot):
    # Chance is 1/14 (7.1 %) in each group.
    assert zero_shot['base/top1'] > 3 * 100 / NUM_BASE
    assert zero_shot['new/top1'] > 3 * 100 / NUM_NEW


def test_coop_learns_the_base_classes(zero_shot, data_root, tmp_path):
    coop, _ = _run(
        'configs/coop/coop_tinyclip_procdtd.py',
        data_root,
        tmp_path,
        train_epochs=15)
    print(f'zero-shot {zero_shot}\nCoOp      {coop}')
    # 15 epochs, seed 1 (measured over seeds 1/2/3 with per-sample views:
    # 63.3 / 63.9 / 65.0, and 65.0 / 63.9 / 62.8 with the earlier global
    # draws, vs zero-shot 58.9; one image is 0.56 points): a 4-point margin
    # holds for every seed, as in the meta-training test.
    assert coop['base/top1'] > zero_shot['base/top1'] + 4
    # New classes are reported, not asserted (as on real data, CoOp's
    # prompts may or may not transfer).
    assert 0 <= coop['new/top1'] <= 100


def test_meta_training_learns_text_prompts_and_reports_the_gap(
        zero_shot, data_root, tmp_path):
    # The paper's episodes with 6 instead of 14 queries per class (half the
    # cost of an iteration) and lr 0.01 instead of 0.002, so 15 epochs show
    # learning.
    meta, runner = _run(
        'configs/meta/meta_tinyclip_procdtd.py',
        data_root,
        tmp_path,
        train_epochs=EPOCHS,
        options={
            'train_dataloader.batch_sampler.num_query': 6,
            'optim_wrapper.optimizer.lr': 0.01,
            'custom_hooks.0.interval': 5
        })
    monitor = next(
        h for h in runner.hooks if type(h).__name__ == 'MetaGapMonitorHook')
    print(f'zero-shot {zero_shot}\nmeta      {meta}\n'
          f'gap (epoch, multimodal, text) {monitor.history}')
    # Inference is text-only, so this is the learned prompts' accuracy
    # (measured: 65.6 vs zero-shot 58.9; one image is 0.56 points).
    assert meta['base/top1'] > zero_shot['base/top1'] + 4
    assert 0 <= meta['new/top1'] <= 100
    epochs = [entry[0] for entry in monitor.history]
    assert epochs == list(range(0, EPOCHS + 1, 5))
    _, mm_start, text_start = monitor.history[0]
    _, mm_end, text_end = monitor.history[-1]
    # The monitor's text-only accuracy is the test's base accuracy ...
    assert text_end == pytest.approx(meta['base/top1'])
    assert text_end > text_start + 4
    # ... and prototypes fused with support images do better still.
    assert mm_end > text_end + 4 and mm_end > mm_start + 10


@pytest.mark.parametrize('config', [
    'configs/maple/maple_tinyclip_procdtd.py',
    'configs/dapt/dapt_tinyclip_procdtd.py',
])
def test_deep_prompts_learn_the_base_classes(config, zero_shot, data_root,
                                             tmp_path):
    # Their configs' schedules: MaPLe's 5 epochs of batch 4, DAPT's 50
    # epochs of batch 32 (measured: base 71.7 and 70.6 vs zero-shot 58.9).
    epochs = 5 if 'maple' in config else 50
    result, _ = _run(config, data_root, tmp_path, train_epochs=epochs)
    print(f'zero-shot {zero_shot}\n{config} {result}')
    assert result['base/top1'] > zero_shot['base/top1'] + 5
    assert 0 <= result['new/top1'] <= 100


@pytest.mark.parametrize('config,epochs,lr', [
    ('configs/kgcoop/kgcoop_tinyclip_procdtd.py', 15, 0.002),
    ('configs/cocoop/cocoop_tinyclip_procdtd.py', 4, 0.01),
])
def test_coop_peers_learn_the_base_classes(config, epochs, lr, zero_shot,
                                           data_root, tmp_path):
    # KgCoOp with CoOp's 15 epochs of batch 32; CoCoOp with 4 of its
    # batch-1 epochs at lr 0.01 instead of 0.002 (one epoch is 240 steps).
    # Measured with per-sample views: KgCoOp 68.9, CoCoOp 63.9 (vs 58.9);
    # CoOp's short runs spread by about 2 points over seeds, so the margin
    # is CoOp's 4 points.
    result, _ = _run(
        config,
        data_root,
        tmp_path,
        train_epochs=epochs,
        options={'optim_wrapper.optimizer.lr': lr})
    print(f'zero-shot {zero_shot}\n{config} {result}')
    assert result['base/top1'] > zero_shot['base/top1'] + 4
    assert 0 <= result['new/top1'] <= 100


def test_instance_wise_prompts_learn_in_the_few_shot_protocol(
        data_root, tmp_path):
    # 4 shots of all 29 classes, top-1 over all classes; lr 0.005 instead of
    # 0.002 so 30 epochs (120 iterations) show learning (measured: 58.3
    # vs zero-shot 52.0; the config's 0.002 needs 50 epochs for 60.6).
    zero_shot = _run('configs/zeroshot/clip_tinyclip_procdtd_fewshot.py',
                     data_root, tmp_path / 'zs')
    instance, runner = _run(
        'configs/instance/instance_tinyclip_procdtd_fewshot4.py',
        data_root,
        tmp_path / 'instance',
        train_epochs=30,
        options={'optim_wrapper.optimizer.lr': 0.005})
    print(f'zero-shot {zero_shot}\ninstance  {instance}')
    assert instance['accuracy/top1'] > zero_shot['accuracy/top1'] + 5
    # the trained prompts were bound to the 116 training images
    learner = runner.model.head.prompt_learner
    assert sorted(learner.instance_labels.tolist()) == sorted(
        runner.train_dataloader.dataset.get_gt_labels().tolist())
