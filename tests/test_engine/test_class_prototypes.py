# Copyright (c) mmprompt contributors. All rights reserved.
"""Class prototypes (DAPT) and the hook that computes and caches them."""
from unittest.mock import MagicMock, patch

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope

from mmprompt.datasets.views import ViewIndex
from mmprompt.engine import class_prototypes, seeded_global_rngs
from mmprompt.models import TINY_MODEL
from mmprompt.offline import make_synthetic_coop_dataset
from mmprompt.registry import DATASETS, HOOKS, MODELS

PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResizedCrop',
        scale=32,
        crop_ratio_range=(0.5, 1.0),
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_coop_dataset(
        root, num_classes=4, images_per_class=(3, 1, 1), seed=0)
    return DATASETS.build(
        dict(
            type='CoOpSynthetic',
            data_root=root,
            split='train',
            subsample='all',
            num_shots=3,
            pipeline=PIPELINE))


@pytest.fixture(scope='module')
def model():
    torch.manual_seed(0)
    # Module fixtures run before conftest's per-test default scope.
    with DefaultScope.overwrite_default_scope('mmprompt'):
        model = _build_model()
    return model.eval()


def _build_model():
    return MODELS.build(
        dict(
            type='VLPromptClassifier',
            data_preprocessor=dict(type='ClsDataPreprocessor'),
            backbone=dict(type='OpenCLIPImageEncoder', model_name=TINY_MODEL),
            head=dict(
                type='DAPTHead',
                text_encoder=dict(
                    type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
                prompt_learner=dict(type='DAPTPromptLearner'))))


def _runner(model, dataset, work_dir, seed=1):
    runner = MagicMock()
    runner.model = model
    runner.train_dataloader.dataset = dataset
    runner.work_dir = str(work_dir)
    runner.seed = seed
    runner.cfg = Config(dict(model=dict(backbone=dict(model_name='tiny'))))
    return runner


def test_prototypes_are_class_means_of_unprompted_unit_features(
        model, dataset):
    classes = dataset.metainfo['classes']
    with seeded_global_rngs(5):
        protos = class_prototypes(model, dataset, len(classes), batch_size=5)
    # The same augmented images again, by hand, through the plain tower.
    with seeded_global_rngs(5), torch.no_grad():
        batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
        data = model.data_preprocessor(batch, False)
        feats = F.normalize(model.backbone.visual(data['inputs']), dim=-1)
    labels = torch.tensor([int(s.gt_label) for s in data['data_samples']])
    expected = torch.stack(
        [feats[labels == c].mean(0) for c in range(len(classes))])
    torch.testing.assert_close(protos, expected, rtol=0, atol=1e-6)
    assert protos.norm(dim=-1).max() < 1  # means of unit vectors
    with seeded_global_rngs(6):
        other = class_prototypes(model, dataset, len(classes))
    assert not torch.allclose(other, protos)  # augmentation follows seed


def test_seeded_global_rngs_restores_the_run_streams():
    np.random.seed(3)
    torch.manual_seed(3)
    expected = (np.random.rand(), torch.rand(1))
    np.random.seed(3)
    torch.manual_seed(3)
    with seeded_global_rngs(0):
        np.random.rand(5)
        torch.rand(5)
    assert (np.random.rand(), torch.rand(1)) == expected


def test_hook_computes_sets_stores_and_reuses(model, dataset, tmp_path):
    from mmprompt.engine.feature_store import FeatureStore
    store = FeatureStore.get_instance('prototype-test', root=str(tmp_path))
    runner = _runner(model, dataset, tmp_path)
    hook = HOOKS.build(dict(type='ClassPrototypeHook', batch_size=5))
    hook.before_train(runner)
    protos = model.head.prototypes.clone()
    assert protos.shape == (4, 64)
    assert store.stats == dict(hits=0, misses=1, written=1)
    # View 0 of every image through the plain tower, by hand.
    with torch.no_grad():
        batch = pseudo_collate(
            [dataset[ViewIndex(i, 1, 0)] for i in range(len(dataset))])
        data = model.data_preprocessor(batch, False)
        feats = F.normalize(model.backbone.visual(data['inputs']), dim=-1)
    labels = torch.tensor([int(s.gt_label) for s in data['data_samples']])
    expected = torch.stack([feats[labels == c].mean(0) for c in range(4)])
    torch.testing.assert_close(protos, expected, rtol=0, atol=1e-6)
    # Same key: read from the store, no image decoded.
    model.head.set_prototypes(torch.zeros(4, 64))
    with patch.object(
            type(dataset), 'prepare_data',
            side_effect=AssertionError('decoded')):
        hook.before_train(runner)
    assert torch.equal(model.head.prototypes, protos)
    assert store.stats['hits'] == 1
    # Another seed: other views, recomputed, and deterministic.
    hook.before_train(_runner(model, dataset, tmp_path, seed=2))
    assert not torch.equal(model.head.prototypes, protos)
    hook.before_train(_runner(model, dataset, tmp_path / 'other'))
    assert torch.equal(model.head.prototypes, protos)


def test_hook_errors(dataset, tmp_path):
    runner = _runner(nn.Module(), dataset, tmp_path)
    runner.model.head = nn.Linear(2, 2)
    with pytest.raises(TypeError, match='Linear has no set_prototypes'):
        HOOKS.build(dict(type='ClassPrototypeHook')).before_train(runner)
