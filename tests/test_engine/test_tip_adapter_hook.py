# Copyright (c) mmprompt contributors. All rights reserved.
"""TipAdapterHook, its search of alpha / beta and cache, and
TrainingFreeLoop, on tiny tensors and MagicMock runners."""
from unittest.mock import MagicMock

import pytest
import torch
import torch.nn.functional as F

from mmprompt.engine.tip_adapter import (TipAdapterHook, TrainingFreeLoop,
                                         cache_from_views, search_alpha_beta,
                                         search_grid)
from mmprompt.errors import ConfigError, DataError
from mmprompt.models import TINY_MODEL
from mmprompt.registry import MODELS

CLASSES = ['banded', 'dotted', 'striped']


def _head():
    torch.manual_seed(0)
    head = MODELS.build(
        dict(
            type='TipAdapterHead',
            text_encoder=dict(
                type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
            alpha=2.0,
            beta=1.0))
    head.set_class_names(CLASSES, 'a photo of a {}.')
    return head


def _cache(num_per_class=2, dim=64):
    labels = torch.arange(len(CLASSES)).repeat_interleave(num_per_class)
    keys = F.normalize(torch.randn(len(labels), dim), dim=-1)
    return keys, F.one_hot(labels, len(CLASSES)).float()


def _official_search(image, labels, text, keys, values, scale, step):
    """A plain restatement of the official utils.search_hp: both grids, beta
    in the outer loop, only a strictly better accuracy replaces the best."""
    beta_list = [i * (scale[0] - 0.1) / step[0] + 0.1 for i in range(step[0])]
    alpha_list = [i * (scale[1] - 0.1) / step[1] + 0.1 for i in range(step[1])]
    best_acc, best_beta, best_alpha = 0, 0, 0
    for beta in beta_list:
        for alpha in alpha_list:
            affinity = image @ keys.t()
            cache = ((-1) * (beta - beta * affinity)).exp() @ values
            logits = 100. * image @ text.t() + cache * alpha
            acc = 100 * float(
                (logits.argmax(1) == labels).float().sum()) / len(labels)
            if acc > best_acc:
                best_acc, best_beta, best_alpha = acc, beta, alpha
    return best_beta, best_alpha, best_acc


def test_search_grid_equals_the_official_lists():
    betas, alphas = search_grid((13, 13), (200, 20))
    assert len(betas) == 200 and len(alphas) == 20
    assert betas == [i * (13 - 0.1) / 200 + 0.1 for i in range(200)]
    assert alphas == [i * (13 - 0.1) / 20 + 0.1 for i in range(20)]
    assert betas[0] == pytest.approx(0.1) and betas[-1] < 13
    betas, alphas = search_grid((7, 3), (200, 20))
    assert alphas[1] == pytest.approx(0.1 + 2.9 / 20)


@pytest.mark.parametrize('scale,step,match', [
    ((0.1, 13), (200, 20), r'beta scale 0\.1 .*above 0\.1'),
    ((13, -1), (200, 20), r'alpha scale -1 .*above 0\.1'),
    ((13, 13), (0, 20), r'beta step count 0 .*positive integer'),
    ((13, 13), (200, 2.5), r'alpha step count 2\.5'),
    ((13, ), (200, 20), r'\(beta, alpha\) pairs'),
])
def test_search_settings_out_of_range_are_errors(scale, step, match):
    with pytest.raises(ConfigError, match=match):
        search_grid(scale, step)
    with pytest.raises(ConfigError, match=match):
        TipAdapterHook(search_scale=scale, search_step=step)


def test_search_equals_the_official_search_hp():
    g = torch.Generator().manual_seed(3)
    image = F.normalize(torch.randn(30, 16, generator=g), dim=-1)
    labels = torch.randint(0, 4, (30, ), generator=g)
    text = F.normalize(torch.randn(4, 16, generator=g), dim=-1)
    keys = F.normalize(
        image[:12] + 0.5 * torch.randn(12, 16, generator=g), dim=-1)
    values = F.one_hot(labels[:12], 4).float()
    ours = search_alpha_beta(image, labels, text, keys, values, (7, 3),
                             (12, 6))
    official = _official_search(image, labels, text, keys, values, (7, 3),
                                (12, 6))
    assert ours[0] == pytest.approx(official[0])
    assert ours[1] == pytest.approx(official[1])
    assert ours[2] == pytest.approx(official[2])


def test_search_picks_the_first_setting_that_fixes_zero_shot():
    # Four one-hot images; zero-shot CLIP gets none right: images 0-2 are
    # orthogonal to every class text (all logits 0, argmax class 0) and
    # image 3 scores class 0 at 100, its true class 2 at 90. The cache
    # holds the images themselves, so for image 3 the true class leads the
    # cache logits by 1 + exp(-beta) (its own key and key 1) and it turns
    # right once alpha * (1 + exp(-beta)) > 10; images 0-2 are right for
    # any alpha > 0. The answer is the first such (beta, alpha), beta in
    # the outer loop.
    image = torch.eye(4)
    text = torch.zeros(3, 4)
    text[0, 3], text[1, 3], text[2, 3] = 1., 0.9, 0.9
    labels = torch.tensor([1, 2, 1, 2])
    keys, values = image.clone(), F.one_hot(labels, 3).float()
    assert (100 * image @ text.t()).argmax(1).eq(labels).sum() == 0
    scale, step = (5, 20), (10, 10)
    beta, alpha, acc = search_alpha_beta(image, labels, text, keys, values,
                                         scale, step)
    assert acc == 100.
    betas, alphas = search_grid(scale, step)
    first = next((b, a) for b in betas for a in alphas
                 if a * (1 + torch.exp(torch.tensor(-b)).item()) > 10)
    assert first == pytest.approx((0.1, 0.1 + 3 * 19.9 / 10))
    assert (beta, alpha) == pytest.approx(first)


def test_cache_keys_average_raw_views_then_normalise():
    g = torch.Generator().manual_seed(2)
    views = [torch.randn(6, 8, generator=g) * (v + 1) for v in range(3)]
    labels = [0, 0, 1, 1, 2, 2]
    keys, values = cache_from_views(views, labels, 3)
    expected = F.normalize((views[0] + views[1] + views[2]) / 3, dim=-1)
    assert torch.allclose(keys, expected)
    assert torch.equal(values, F.one_hot(torch.tensor(labels), 3).float())
    # not the mean of normalised views
    assert not torch.allclose(
        keys, F.normalize(sum(F.normalize(v, dim=-1) for v in views), dim=-1))


def test_empty_training_set_or_missing_class_is_an_error():
    with pytest.raises(DataError, match=r'training set is empty.*num_shots'):
        cache_from_views([], [], 3)
    with pytest.raises(DataError, match=r'classes \[1\] have no training'):
        cache_from_views([torch.randn(2, 4)], [0, 2], 3)


def _runner(head, val_loop=True):
    runner = MagicMock()
    runner.model = MagicMock(spec=['head'])
    runner.model.head = head
    runner.val_loop = MagicMock() if val_loop else None
    return runner


def test_hook_errors():
    with pytest.raises(ConfigError, match=r'search_scale=\(beta scale'):
        TipAdapterHook()
    with pytest.raises(ConfigError, match=r'augment_epoch=0'):
        TipAdapterHook(augment_epoch=0, search=False)
    hook = TipAdapterHook(search_scale=(13, 13))
    with pytest.raises(ConfigError, match=r'no val_dataloader.*search=False'):
        hook.before_train(_runner(_head(), val_loop=False))
    with pytest.raises(ConfigError, match=r'has no set_cache'):
        hook.before_train(_runner(MagicMock(spec=['loss'])))


def test_hook_keeps_a_loaded_cache_and_the_loop_calls_the_hooks():
    head = _head()
    keys, values = _cache()
    head.set_cache(keys, values)
    hook = TipAdapterHook(search=False)
    runner = _runner(head)
    hook.before_train(runner)  # resumed: nothing is rebuilt
    assert torch.equal(head.cache_keys, keys)
    runner.epoch, runner.max_epochs = 0, 1
    hook.after_train_epoch(runner)
    assert hook.result == dict(alpha=2.0, beta=1.0)
    loop = TrainingFreeLoop(runner, MagicMock())
    assert loop.max_epochs == 1 and loop.epoch == 0
    loop.run()
    assert [c.args[0] for c in runner.call_hook.call_args_list] == [
        'before_train', 'before_train_epoch', 'after_train_epoch',
        'after_train'
    ]
    runner.val_loop.run.assert_called_once()
    assert loop.epoch == 1
