# Copyright (c) mmprompt contributors. All rights reserved.
"""A checkpoint of another method or shape is refused, not half-loaded."""
import copy
import os.path as osp
from unittest.mock import MagicMock

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmprompt.engine.hooks import CheckpointCheckHook, check_checkpoint_fits
from mmprompt.engine.hooks.checkpoint_check import describe_method, frozen_keys
from mmprompt.errors import CheckpointError
from mmprompt.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY = dict(model_name='mmprompt-tiny', pretrained=None, model_kwargs=None)


def _model(base, **learner):
    cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/models', base))
    model_cfg = copy.deepcopy(cfg.model)
    model_cfg.head.prompt_learner.update(learner)
    model_cfg.backbone.update(TINY)
    model_cfg.head.text_encoder.update(TINY)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmprompt'):
        model = MODELS.build(model_cfg)
    model.head.set_class_names(['cat', 'dog', 'bird'], template='a {}.')
    return model


@pytest.fixture(scope='module')
def coop():
    return _model('coop_vitb16.py')


@pytest.fixture(scope='module')
def zeroshot():
    return _model('clip_vitb16.py')


def _saved_by(model, config='coop_tiny_synthetic.py'):
    """The checkpoint mmengine's Runner writes, with the hook's record."""
    runner = MagicMock(model=model)
    checkpoint = dict(meta=dict(epoch=1), state_dict=model.state_dict())
    CheckpointCheckHook(config=f'/somewhere/{config}').before_save_checkpoint(
        runner, checkpoint)
    return checkpoint


def test_save_records_method_and_config(coop):
    checkpoint = _saved_by(coop)
    assert checkpoint['meta']['mmprompt'] == dict(
        method='ImageClassifier/PromptClsHead/CoOpPromptLearner',
        config='coop_tiny_synthetic.py')
    assert checkpoint['meta']['epoch'] == 1


def test_own_checkpoint_loads(coop):
    checkpoint = _saved_by(coop)
    assert list(checkpoint['state_dict']) == ['head.prompt_learner.ctx']
    trained = checkpoint['state_dict']['head.prompt_learner.ctx'] + 1
    checkpoint['state_dict']['head.prompt_learner.ctx'] = trained
    check_checkpoint_fits(coop, checkpoint, 'epoch_1.pth')
    assert torch.equal(coop.head.prompt_learner.ctx.detach(), trained)
    # DDP-saved keys ('module.' prefix) are accepted as mmengine does.
    wrapped = {'module.' + k: v for k, v in checkpoint['state_dict'].items()}
    check_checkpoint_fits(coop, dict(state_dict=wrapped))


def test_coop_checkpoint_into_zero_shot_is_refused(coop, zeroshot):
    checkpoint = _saved_by(coop)
    with pytest.raises(CheckpointError) as info:
        check_checkpoint_fits(zeroshot, checkpoint, 'work/epoch_4.pth',
                              '/cfg/clip_tiny_synthetic.py')
    message = str(info.value)
    assert 'Checkpoint work/epoch_4.pth does not fit the model of config ' \
        "'clip_tiny_synthetic.py' (method " \
        'ImageClassifier/PromptClsHead/HandcraftedPrompts)' in message
    assert "holds keys the model does not have: 'head.prompt_learner.ctx'" \
        in message
    assert "written by config 'coop_tiny_synthetic.py' (method " \
        'ImageClassifier/PromptClsHead/CoOpPromptLearner)' in message
    assert 'checkpoint_check=None' in message


def test_linear_probe_checkpoint_into_coop_is_refused(coop):
    checkpoint = dict(
        meta=dict(
            mmprompt=dict(
                config='lp_tinyclip_procdtd_fewshot4.py',
                method='ImageClassifier/LinearClsHead')),
        state_dict={
            'head.fc.weight': torch.zeros(3, 64),
            'head.fc.bias': torch.zeros(3)
        })
    with pytest.raises(
            CheckpointError,
            match=r"the weights 'head.prompt_learner.ctx' that "
            r'this model trains are not in it; and it holds keys '
            r"the model does not have: 'head.fc.weight', "
            r"'head.fc.bias'.*lp_tinyclip_procdtd_fewshot4.py"):
        check_checkpoint_fits(coop, checkpoint, 'lp.pth')


def test_maple_checkpoint_into_coop_is_refused(coop):
    maple = _model('maple_vitb16.py', depth=2)
    checkpoint = _saved_by(maple, 'maple_tinyclip_procdtd.py')
    assert 'VLPromptClassifier/PromptClsHead/MaPLePromptLearner' in \
        checkpoint['meta']['mmprompt']['method']
    coop_like = _model('coop_vitb16.py', ctx_init='a photo')
    with pytest.raises(
            CheckpointError,
            match=r'holds keys the model does not have: .*'
            r"maple_tinyclip_procdtd.py"):
        check_checkpoint_fits(coop_like, checkpoint, 'maple.pth')


def test_shape_mismatch_is_a_checkpoint_error(coop):
    checkpoint = dict(state_dict={'head.prompt_learner.ctx': torch.zeros(2)})
    with pytest.raises(
            CheckpointError,
            match=r"Checkpoint bad.pth does not fit .*"
            r"'head.prompt_learner.ctx' has shape \(2,\) but"):
        check_checkpoint_fits(coop, checkpoint, 'bad.pth')


def test_checkpoint_without_record_says_so(zeroshot):
    with pytest.raises(CheckpointError, match='carries no mmprompt record'):
        check_checkpoint_fits(zeroshot,
                              {'head.prompt_learner.ctx': torch.zeros(1)})


class _Frozen(nn.Module):

    def __init__(self):
        super().__init__()
        self.bn = nn.BatchNorm1d(2)
        self.fc = nn.Linear(2, 2)
        for p in self.parameters():
            p.requires_grad_(False)


class _Net(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = _Frozen()
        self.head = nn.Linear(2, 2)
        self.head.register_buffer('labels', torch.zeros(2))


def test_frozen_weights_may_be_absent_trained_buffers_may_not():
    net = _Net()
    assert set(frozen_keys(net)) == {
        'backbone.bn.weight', 'backbone.bn.bias', 'backbone.bn.running_mean',
        'backbone.bn.running_var', 'backbone.bn.num_batches_tracked',
        'backbone.fc.weight', 'backbone.fc.bias'
    }
    state = net.state_dict()
    trained = {k: v for k, v in state.items() if k.startswith('head.')}
    check_checkpoint_fits(net, dict(state_dict=trained))
    del trained['head.labels']
    with pytest.raises(CheckpointError, match="'head.labels'"):
        check_checkpoint_fits(net, dict(state_dict=trained))


def test_hook_names_the_loaded_file(coop, zeroshot):
    runner = MagicMock(model=zeroshot, _load_from='work/epoch_9.pth')
    with pytest.raises(
            CheckpointError,
            match=r'work/epoch_9\.pth[\s\S]*clip_vitb16_dtd\.py'):
        CheckpointCheckHook(
            config='configs/clip/clip_vitb16_dtd.py').after_load_checkpoint(
                runner, _saved_by(coop))
    # Without a config name (a Runner built by hand), nothing is recorded.
    checkpoint = dict(state_dict={})
    CheckpointCheckHook().before_save_checkpoint(runner, checkpoint)
    assert checkpoint['meta']['mmprompt']['config'] is None
    assert describe_method(nn.Linear(1, 1)) == 'Linear'
