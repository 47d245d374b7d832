# Copyright (c) mmprompt contributors. All rights reserved.
import functools
import random
from unittest import TestCase
from unittest.mock import MagicMock, patch

import numpy as np
import torch
import torch.nn as nn
from mmengine.dataset import BaseDataset, RepeatDataset
from mmengine.dataset import worker_init_fn as mmengine_worker_init_fn
from mmengine.model import BaseModule
from torch.utils.data import DataLoader, Dataset

import mmprompt.engine  # noqa: F401
from mmprompt.engine import EpochSeedHook, SetClassNamesHook, epoch_seed
from mmprompt.models.heads import PromptClsHead
from mmprompt.registry import HOOKS

TRAIN_META = dict(classes=('a', 'b'), template='{} texture.')
VAL_META = dict(classes=('a', 'b', 'c'))
TEST_META = dict(classes=('c', 'd'), template='a photo of a {}.')


class ToyHead(PromptClsHead):
    """A prompt head that records what the hook binds (no encoders)."""

    def __init__(self):
        BaseModule.__init__(self)
        self.calls, self.training_sets = [], []

    def set_class_names(self, classnames, template=None):
        self.calls.append((tuple(classnames), template))

    def bind_training_set(self, dataloader):
        self.training_sets.append(dataloader)


class ToyModel(nn.Module):

    def __init__(self, head=None):
        super().__init__()
        self.head = ToyHead() if head is None else head


class ToyDataset(BaseDataset):

    def load_data_list(self):
        return [dict(x=0), dict(x=1)]


def _class_runner(model, train=TRAIN_META, val=VAL_META, test=TEST_META):
    runner = MagicMock()
    runner.model = model
    runner.train_dataloader.dataset.metainfo = train
    runner.val_dataloader.dataset.metainfo = val
    runner.test_dataloader.dataset.metainfo = test
    return runner


class TestSetClassNamesHook(TestCase):

    def test_build_and_priority(self):
        hook = HOOKS.build(dict(type='SetClassNamesHook'))
        self.assertIsInstance(hook, SetClassNamesHook)
        self.assertEqual(hook.priority, 'ABOVE_NORMAL')

    def test_mount_points_during_training(self):
        model = ToyModel()
        runner = _class_runner(model)
        hook = SetClassNamesHook()
        hook.before_train(runner)
        hook.before_train_epoch(runner)
        hook.before_val_epoch(runner)
        hook.after_val_epoch(runner, metrics={'base/top1': 1.})
        hook.after_train(runner)
        hook.before_test_epoch(runner)
        self.assertEqual(
            model.head.calls,
            [
                (('a', 'b'), '{} texture.'),  # train
                (('a', 'b', 'c'), None),  # val: no template in its metainfo
                (('a', 'b'), '{} texture.'),  # train again after validation
                (('c', 'd'), 'a photo of a {}.'),  # test
            ])

    def test_dataset_name_reaches_the_template_set(self):
        # CoOp's ZeroshotCLIP2 ensemble adds the dataset's own template on
        # every dataset but ImageNet: the hook passes the dataset's name.
        from mmprompt.models.heads import PromptClsHead
        tiny = dict(model_name='mmprompt-tiny', pretrained=None)
        head = PromptClsHead(
            text_encoder=dict(type='OpenCLIPTextEncoder', **tiny),
            prompt_learner=dict(
                type='HandcraftedPrompts',
                templates='imagenet_select+dataset'))
        model = ToyModel(head)
        learner = head.prompt_learner
        for name, count in (('ImageNet', 7), ('ImageNetV2', 8), ('EuroSAT',
                                                                 8)):
            meta = dict(
                classes=('x', 'y'),
                template='a photo of a {}.',
                dataset_name=name)
            SetClassNamesHook().before_test_epoch(
                _class_runner(model, test=meta))
            self.assertEqual(len(learner.resolved_templates), count, name)
        # A head without dataset_name in its signature still works when
        # the metainfo has no name.
        SetClassNamesHook().before_test_epoch(_class_runner(ToyModel()))

    def test_validation_only(self):
        # runner.val(): no training, so nothing is rebound after validation
        model = ToyModel()
        runner = _class_runner(model)
        hook = SetClassNamesHook()
        hook.before_val_epoch(runner)
        hook.after_val_epoch(runner)
        self.assertEqual(model.head.calls, [(('a', 'b', 'c'), None)])

    def test_unwraps_model_wrapper(self):
        model = ToyModel()
        runner = _class_runner(nn.DataParallel(model))
        hook = SetClassNamesHook()
        hook.before_test_epoch(runner)
        self.assertEqual(model.head.calls, [(('c', 'd'), 'a photo of a {}.')])

    def test_dataset_wrapper(self):
        dataset = RepeatDataset(
            ToyDataset(metainfo=dict(TRAIN_META), serialize_data=False),
            times=2)
        model = ToyModel()
        runner = _class_runner(model)
        runner.train_dataloader = DataLoader(dataset)
        SetClassNamesHook().before_train_epoch(runner)
        self.assertEqual(model.head.calls, [(('a', 'b'), '{} texture.')])

    def test_the_head_gets_the_training_loader_when_training_binds(self):
        head = ToyHead()
        runner = _class_runner(ToyModel(head=head))
        hook = SetClassNamesHook()
        hook.before_train(runner)
        hook.before_train_epoch(runner)
        hook.before_val_epoch(runner)  # val and test bind nothing more
        hook.after_val_epoch(runner)  # training classes again
        hook.after_train(runner)
        hook.before_test_epoch(runner)
        self.assertEqual(head.training_sets, [runner.train_dataloader] * 2)

    def test_errors(self):
        hook = SetClassNamesHook()
        runner = _class_runner(ToyModel(head=nn.Linear(2, 2)))
        with self.assertRaisesRegex(
                TypeError, r'ToyModel has a head of type Linear, which is '
                r'not a PromptClsHead.*Use a prompt head.*remove '
                r'SetClassNamesHook'):
            hook.before_train_epoch(runner)

        model = ToyModel()
        del model.head
        with self.assertRaisesRegex(TypeError, 'ToyModel has no `head`'):
            hook.before_train_epoch(_class_runner(model))

        runner = _class_runner(ToyModel(), val=dict(template='{}.'))
        with self.assertRaisesRegex(
                KeyError, r"needs 'classes' in the metainfo of the val "
                r"dataset.*keys \['template'\]"):
            hook.before_val_epoch(runner)

        runner = _class_runner(ToyModel(), test=dict(classes='abc'))
        with self.assertRaisesRegex(TypeError, 'sequence of str'):
            hook.before_test_epoch(runner)


class RandomDataset(Dataset):
    """Each item is a draw from the global RNGs, like an augmentation."""

    def __len__(self):
        return 4

    def __getitem__(self, idx):
        return torch.tensor(
            [np.random.randint(1 << 30),
             random.randint(0, 1 << 30)])


def _draws():
    return (random.random(), np.random.rand(3).tolist(),
            torch.rand(3).tolist())


def _seed_runner(seed=42, epoch=3, dataloader=None):
    runner = MagicMock()
    runner.seed = seed
    runner.epoch = epoch
    if dataloader is None:
        dataloader = MagicMock(num_workers=0, persistent_workers=False)
    runner.train_dataloader = dataloader
    return runner


class TestEpochSeedHook(TestCase):

    def setUp(self):
        self._state = (random.getstate(), np.random.get_state(),
                       torch.get_rng_state())

    def tearDown(self):
        random.setstate(self._state[0])
        np.random.set_state(self._state[1])
        torch.set_rng_state(self._state[2])

    def test_build_and_priority(self):
        hook = HOOKS.build(dict(type='EpochSeedHook'))
        self.assertIsInstance(hook, EpochSeedHook)
        self.assertEqual(hook.priority, 'HIGH')

    def test_epoch_seed(self):
        self.assertEqual(epoch_seed(42, 0), 42)
        self.assertEqual(epoch_seed(42, 3, rank=1), 42 + 3 * 1000003 + 1)
        self.assertLess(epoch_seed(2**31 - 1, 5000, rank=7), 2**31)

    def test_main_process_reseed(self):
        hook = EpochSeedHook()
        hook.before_train_epoch(_seed_runner(epoch=3))
        first = _draws()
        _draws()  # the rest of the epoch consumes random numbers
        # a resumed run (a fresh hook) at the same epoch draws the same
        EpochSeedHook().before_train_epoch(_seed_runner(epoch=3))
        self.assertEqual(_draws(), first)
        # the same as seeding all three by hand with the epoch seed
        s = epoch_seed(42, 3)
        random.seed(s)
        np.random.seed(s)
        torch.manual_seed(s)
        self.assertEqual(_draws(), first)
        # other epochs, seeds and ranks differ
        hook.before_train_epoch(_seed_runner(epoch=4))
        self.assertNotEqual(_draws(), first)
        hook.before_train_epoch(_seed_runner(seed=43, epoch=3))
        self.assertNotEqual(_draws(), first)
        with patch(
                'mmprompt.engine.hooks.epoch_seed.get_rank', return_value=1):
            hook.before_train_epoch(_seed_runner(epoch=3))
        self.assertNotEqual(_draws(), first)

    def test_worker_init_fn_replaced(self):
        dataloader = DataLoader(
            RandomDataset(),
            num_workers=2,
            worker_init_fn=functools.partial(
                mmengine_worker_init_fn,
                num_workers=2,
                rank=0,
                seed=42,
                disable_subprocess_warning=True))
        hook = EpochSeedHook()
        for epoch in (0, 1):
            hook.before_train_epoch(
                _seed_runner(epoch=epoch, dataloader=dataloader))
            fn = dataloader.worker_init_fn
            self.assertIs(fn.func, mmengine_worker_init_fn)
            self.assertEqual(
                fn.keywords,
                dict(
                    num_workers=2,
                    rank=0,
                    seed=epoch_seed(42, epoch),
                    disable_subprocess_warning=True))
        with patch(
                'mmprompt.engine.hooks.epoch_seed.get_rank', return_value=2):
            hook.before_train_epoch(_seed_runner(dataloader=dataloader))
        self.assertEqual(dataloader.worker_init_fn.keywords['rank'], 2)
        self.assertEqual(dataloader.worker_init_fn.keywords['seed'],
                         epoch_seed(42, 3, rank=2))

    def test_workers_fresh_per_epoch_and_resumable(self):

        def run_epoch(hook, epoch):
            hook.before_train_epoch(
                _seed_runner(epoch=epoch, dataloader=dataloader))
            return torch.cat(list(dataloader)).tolist()

        dataloader = DataLoader(
            RandomDataset(),
            num_workers=2,
            worker_init_fn=functools.partial(
                mmengine_worker_init_fn, num_workers=2, rank=0, seed=42))
        # mmengine's own worker_init_fn replays the same draws every epoch
        self.assertEqual(
            torch.cat(list(dataloader)).tolist(),
            torch.cat(list(dataloader)).tolist())
        hook = EpochSeedHook()
        epoch0, epoch1 = run_epoch(hook, 0), run_epoch(hook, 1)
        self.assertNotEqual(epoch0, epoch1)
        # "resume" at epoch 1 with a fresh hook
        self.assertEqual(run_epoch(EpochSeedHook(), 1), epoch1)

    def test_persistent_and_custom_workers_warn_once(self):
        dataloader = MagicMock(
            num_workers=2, persistent_workers=True, worker_init_fn=None)
        hook = EpochSeedHook()
        with patch('mmprompt.engine.hooks.epoch_seed.print_log') as log:
            hook.before_train_epoch(_seed_runner(dataloader=dataloader))
            hook.before_train_epoch(_seed_runner(dataloader=dataloader))
        warnings = [
            c for c in log.call_args_list
            if 'level' in c.kwargs and c.kwargs['level'] == 30
        ]
        self.assertEqual(len(warnings), 1)
        self.assertIn('persistent_workers=True', warnings[0].args[0])
        # still set, so the first epoch's workers are seeded by epoch
        self.assertIs(dataloader.worker_init_fn.func, mmengine_worker_init_fn)

        def custom(worker_id):
            pass

        dataloader = MagicMock(
            num_workers=2, persistent_workers=False, worker_init_fn=custom)
        with patch('mmprompt.engine.hooks.epoch_seed.print_log') as log:
            hook.before_train_epoch(_seed_runner(dataloader=dataloader))
        self.assertIs(dataloader.worker_init_fn, custom)
        self.assertIn('custom worker_init_fn', log.call_args_list[-1].args[0])

    def test_no_seed(self):
        dataloader = MagicMock(
            num_workers=2, persistent_workers=False, worker_init_fn=None)
        before = _draws()
        with patch('mmprompt.engine.hooks.epoch_seed.print_log') as log:
            EpochSeedHook().before_train_epoch(
                _seed_runner(seed=None, dataloader=dataloader))
        self.assertIn('runner.seed is None', log.call_args.args[0])
        self.assertIsNone(dataloader.worker_init_fn)
        self.assertNotEqual(_draws(), before)  # RNGs were not reset
