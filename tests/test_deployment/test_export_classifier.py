# Copyright (c) mmprompt contributors. All rights reserved.
"""Export to a plain mmpretrain classifier (and ONNX), on the tiny CLIP.

The exported files must give the mmprompt model's logits (within 1e-4) in
this process, in a process where mmprompt cannot be imported, and through
onnxruntime; methods whose scores depend on the image beyond CLIP's cosine
with fixed class texts are refused.
"""
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmprompt.deployment.export import (bake, build_plain_model,
                                        check_bakeable, check_output,
                                        export_classifier, export_onnx,
                                        logits_on_images, onnx_logits)
from mmprompt.deployment.source import (classes_from_config,
                                        config_test_pipeline, parse_class_list)
from mmprompt.errors import ConfigError
from mmprompt.models import TINY_MODEL, OpenCLIPImageEncoder
from mmprompt.models.clip.mmpretrain_convert import (
    NotExportableError, open_clip_vit_to_mmpretrain, plain_pipeline)
from mmprompt.offline import PROCEDURAL_CLASSES, make_procedural_dataset
from mmprompt.registry import MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TOOL = osp.join(REPO, 'tools', 'deployment', 'export_classifier.py')
ZERO_SHOT = osp.join(REPO, 'configs/zeroshot/clip_tinyclip_procdtd.py')
COOP = osp.join(REPO, 'configs/coop/coop_tinyclip_procdtd.py')
NUM_BASE = (len(PROCEDURAL_CLASSES) + 1) // 2
ATOL = 1e-4

#: Run with python -c: mmprompt cannot be imported; the exported files are
#: loaded with mmpretrain's init_model and ImageClassificationInferencer.
WITHOUT_MMPROMPT = r'''
import json, sys
sys.modules['mmprompt'] = None  # "import mmprompt[.x]" raises ImportError
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope
from mmpretrain.apis import ImageClassificationInferencer, init_model
from mmpretrain.registry import TRANSFORMS
import torch
config, checkpoint, images = sys.argv[1], sys.argv[2], sys.argv[3:]
model = init_model(config, checkpoint, device='cpu')
with DefaultScope.overwrite_default_scope('mmpretrain'):
    pipeline = Compose(
        [TRANSFORMS.build(t) for t in model._config.test_pipeline])
batch = pseudo_collate([pipeline(dict(img_path=p)) for p in images])
with torch.no_grad():
    inputs = model.data_preprocessor(batch, False)['inputs']
    logits = model(inputs, mode='tensor')
results = ImageClassificationInferencer(
    config, pretrained=checkpoint, device='cpu')(images)
try:
    import mmprompt  # noqa
    blocked = False
except ImportError:
    blocked = True
print()  # after the inferencer's progress bar, which ends no line
print(json.dumps(dict(
    logits=logits.tolist(),
    classes=list(model._dataset_meta['classes']),
    scores=[r['pred_scores'].tolist() for r in results],
    pred_class=[r['pred_class'] for r in results],
    blocked=blocked,
    loaded=sorted(m for m in sys.modules
                  if m.split('.')[0] in ('mmprompt', 'open_clip')
                  and sys.modules[m] is not None))))
'''


def _build(cfg):
    with DefaultScope.overwrite_default_scope('mmprompt'):
        return MODELS.build(cfg.model).eval()


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    """The procedural mini-DTD, one image per class and split."""
    root = str(tmp_path_factory.mktemp('procdtd') / 'procdtd')
    make_procedural_dataset(root, num_train=1, num_val=1, num_test=1, seed=7)
    return root


def _config(path, data_root):
    cfg = Config.fromfile(path)
    cfg.test_dataloader.dataset.data_root = data_root
    return cfg


@pytest.fixture(scope='module')
def zero_shot(data_root):
    cfg = _config(ZERO_SHOT, data_root)
    return cfg, _build(cfg)


@pytest.fixture(scope='module')
def coop(data_root):
    """CoOp with its context moved away from 'a photo of a' (as training
    would): the exported logits must follow the learned prompts."""
    cfg = _config(COOP, data_root)
    model = _build(cfg)
    ctx = model.head.prompt_learner.ctx
    noise = torch.randn(ctx.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ctx.add_(0.5 * ctx.std() * noise)
    return cfg, model


def _main(*args):
    """Run the tool's main() in this process; its exit status."""
    spec = importlib.util.spec_from_file_location('export_classifier', TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.main([str(a) for a in args])
    except SystemExit as exit_:
        return exit_.code
    return 0


def _error(capsys, *args):
    """The one error line of a tool call that must fail as a user error."""
    assert _main(*args) == 2
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    return ' '.join(err.split())


def test_baked_zero_shot_is_a_plain_mmpretrain_model_with_clips_logits(
        zero_shot):
    cfg, model = zero_shot
    classes = ['banded', 'striped', 'dotted', 'zigzagged']
    baked = bake(model, cfg.model, classes, template='{} texture.')
    plain = build_plain_model(baked.model, baked.state_dict)
    modules = {type(m).__module__.split('.')[0] for m in plain.modules()}
    assert modules <= {'mmpretrain', 'mmcv', 'mmengine', 'torch'}, modules
    assert type(plain.head).__name__ == 'ArcFaceClsHead'
    assert baked.logit_scale == pytest.approx(
        float(model.head.text_encoder.logit_scale.exp()))
    x = torch.randn(5, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model(x, mode='tensor')
        got = plain(x, mode='tensor')
        # What CLIP computes, spelled out from the mmprompt model.
        image = torch.nn.functional.normalize(model.backbone(x)[0], dim=-1)
        text = model.head.text_features()
    assert got.shape == (5, 4)
    assert (got - want).abs().max() <= ATOL
    assert (got - baked.logit_scale * image @ text.t()).abs().max() <= ATOL


def test_classes_of_the_config_test_set(zero_shot):
    cfg, _ = zero_shot
    new = classes_from_config(cfg, split='new', num_images=3)
    assert new.classes == list(PROCEDURAL_CLASSES[NUM_BASE:])
    assert new.template == '{} texture.'
    assert "subsample='new'" in new.description
    assert len(new.image_paths) == 3 and all(
        osp.isfile(p) for p in new.image_paths)
    everything = classes_from_config(cfg)
    assert everything.classes == list(PROCEDURAL_CLASSES)
    assert "the 29 classes of the test set (CoOpProceduralDTD, " \
        "subsample='all')" == everything.description


@pytest.fixture(scope='module')
def coop_export(coop, tmp_path_factory):
    """CoOp exported for the new classes (with ONNX), and the mmprompt
    model's logits on 4 of their test images."""
    cfg, model = coop
    source = classes_from_config(cfg, split='new', num_images=4)
    out_dir = tmp_path_factory.mktemp('coop') / 'out'
    result = export_classifier(
        model,
        cfg.model,
        source.classes,
        config_test_pipeline(cfg),
        str(out_dir),
        'coop_new',
        template=source.template,
        check_images=source.image_paths,
        onnx=True)
    want, inputs = logits_on_images(model, config_test_pipeline(cfg),
                                    source.image_paths, 'mmprompt')
    return result, source, want, inputs


def test_coop_export_gives_the_logits_in_torch_and_onnxruntime(
        coop_export, zero_shot):
    result, source, want, inputs = coop_export
    assert sorted(os.listdir(osp.dirname(
        result.config))) == ['coop_new.onnx', 'coop_new.pth', 'coop_new.py']
    assert result.max_diff <= ATOL and result.onnx_max_diff <= ATOL
    assert want.shape == (4, len(PROCEDURAL_CLASSES) - NUM_BASE)
    # The learned context matters: zero-shot scores these images otherwise.
    zs_cfg, zs_model = zero_shot
    zs_model.head.set_class_names(source.classes, template=source.template)
    zs, _ = logits_on_images(zs_model, config_test_pipeline(zs_cfg),
                             source.image_paths, 'mmprompt')
    assert (zs - want).abs().max() > 0.05

    for batch in (inputs[:1], inputs):  # the batch size is free
        got = onnx_logits(result.onnx, batch)
        assert (got - want[:len(batch)]).abs().max() <= ATOL
    import onnx
    meta = {p.key: p.value for p in onnx.load(result.onnx).metadata_props}
    assert json.loads(meta['classes']) == source.classes
    assert json.loads(meta['mean']) == [122.770938, 116.7460125, 104.09373615]


@pytest.mark.slow  # a subprocess that imports mmpretrain (12 s here)
def test_exported_files_run_where_mmprompt_cannot_be_imported(
        coop_export, tmp_path):
    result, source, want, _ = coop_export
    proc = subprocess.run(
        [
            sys.executable, '-c', WITHOUT_MMPROMPT, result.config,
            result.checkpoint
        ] + source.image_paths,
        cwd=str(tmp_path),
        env=dict(os.environ, PYTHONPATH='', HF_HUB_OFFLINE='1'),
        capture_output=True,
        text=True,
        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out['blocked'] and out['loaded'] == []
    assert out['classes'] == source.classes
    logits = torch.tensor(out['logits'])
    assert (logits - want).abs().max() <= ATOL
    assert np.allclose(out['scores'], want.softmax(-1).numpy(), atol=1e-5)
    assert out['pred_class'] == [source.classes[i] for i in want.argmax(-1)]


def test_tool_exports_zero_shot_for_the_base_classes(data_root, tmp_path,
                                                     capsys):
    out_dir = tmp_path / 'zs'
    assert _main(ZERO_SHOT, '--out-dir', out_dir, '--split', 'base',
                 '--cfg-options',
                 f'test_dataloader.dataset.data_root={data_root}') == 0
    printed = capsys.readouterr().out
    assert ("method ImageClassifier/PromptClsHead/HandcraftedPrompts: the "
            f"{NUM_BASE} classes of the test set (CoOpProceduralDTD, "
            "subsample='base')") in printed
    diff = float(
        printed.split('max |logits(exported) - logits(mmprompt)| = ')
        [1].split()[0])
    assert diff <= ATOL
    assert 'checked on 4 test images' in printed
    ckpt = torch.load(
        str(out_dir / 'clip_tinyclip_procdtd.pth'), weights_only=True)
    assert ckpt['meta']['dataset_meta']['classes'] == list(
        PROCEDURAL_CLASSES[:NUM_BASE])
    exported = Config.fromfile(str(out_dir / 'clip_tinyclip_procdtd.py'))
    assert exported.dataset_meta.classes == list(PROCEDURAL_CLASSES[:NUM_BASE])
    assert exported.test_pipeline[0] == dict(
        type='LoadImageFromFile',
        imdecode_backend='pillow',
        color_type='color_ignore_orientation')

    # Files of that name are not overwritten without --force.
    err = _error(capsys, ZERO_SHOT, '--out-dir', out_dir, '--classes', 'a,b')
    assert ('--out-dir ' + str(out_dir) + ' already holds '
            'clip_tinyclip_procdtd.py, clip_tinyclip_procdtd.pth; pass '
            '--force to overwrite them') in err
    check_output(str(out_dir), 'clip_tinyclip_procdtd', force=True)


@pytest.mark.parametrize(
    'config, says',
    [('cocoop/cocoop_tinyclip_procdtd.py',
      'CoCoOpHead/CoCoOpPromptLearner cannot be exported to a plain '
      'mmpretrain classifier: its prompt learner CoCoOpPromptLearner '
      'conditions the context on each image'),
     ('maple/maple_tinyclip_procdtd.py',
      'VLPromptClassifier/PromptClsHead/MaPLePromptLearner cannot be exported'
      ' to a plain mmpretrain classifier: its prompt learner '
      'MaPLePromptLearner puts learned prompt tokens into the image tower'),
     ('ivlp/ivlp_tinyclip_procdtd.py', 'its prompt learner IVLPPromptLearner '
      'puts learned prompt tokens into the image tower'),
     ('vpt/vpt-deep_tinyclip_procdtd.py', 'its prompt learner '
      'VPTDeepPromptLearner puts learned prompt tokens into the image tower'),
     ('dapt/dapt_tinyclip_procdtd.py', 'its prompt learner DAPTPromptLearner '
      'puts learned prompt tokens into the image tower'),
     ('promptsrc/promptsrc_tinyclip_procdtd.py', 'its prompt learner '
      'IVLPPromptLearner puts learned prompt tokens into the image tower'),
     ('instance/instance_tinyclip_procdtd_fewshot4.py',
      'its head InstancePromptHead computes the class scores its own way '
      '(forward differs from PromptClsHead\'s): it scores each class by the '
      'mean of the instance prompts most similar to each image'),
     ('linear_probe/lp_tinyclip_procdtd_fewshot4.py',
      'it has the head LinearClsHead, not a prompt head (PromptClsHead)')])
def test_methods_that_cannot_be_baked_are_refused(config, says, tmp_path,
                                                  capsys):
    err = _error(capsys, osp.join(REPO, 'configs', config), '--out-dir',
                 tmp_path)
    assert says in err
    assert 'Export supports zero-shot CLIP (HandcraftedPrompts), CoOp' in err
    assert os.listdir(tmp_path) == []


def test_a_built_image_conditioned_model_is_refused():
    cfg = Config.fromfile(
        osp.join(REPO, 'configs/cocoop/cocoop_tiny_synthetic.py'))
    with pytest.raises(
            NotExportableError,
            match='CoCoOpPromptLearner '
            'conditions the context on each image'):
        check_bakeable(_build(cfg))


def test_bad_opset_names_the_opset_to_try(zero_shot, tmp_path, capsys):
    out_dir = tmp_path / 'new'
    err = _error(capsys, ZERO_SHOT, '--out-dir', out_dir, '--classes',
                 'banded,striped', '--onnx', '--opset', '11')
    assert ('ONNX export with --opset 11 failed: UnsupportedOperatorError: '
            "Exporting the operator 'aten::scaled_dot_product_attention' to "
            'ONNX opset version 11 is not supported.') in err
    assert err.endswith('try exporting with this version. Try --opset 14 or '
                        'higher (e.g. 17).')
    assert not osp.exists(out_dir)  # nothing left behind
    cfg, model = zero_shot
    baked = bake(model, cfg.model, ['banded', 'striped'], '{} texture.')
    plain = build_plain_model(baked.model, baked.state_dict)
    with pytest.raises(
            ConfigError,
            match=r'--opset 99 failed: RuntimeError: '
            r'Unsupported onnx_opset_version: 99\. Try --opset 17\.'):
        export_onnx(plain, torch.zeros(1, 3, 64, 64), str(tmp_path / 'x.onnx'),
                    99)
    if importlib.util.find_spec('onnxscript') is None:
        with pytest.raises(
                ConfigError,
                match='--dynamo: .* needs the onnxscript package, which is '
                'not installed'):
            export_onnx(
                plain,
                torch.zeros(1, 3, 64, 64),
                str(tmp_path / 'x.onnx'),
                dynamo=True)


def test_checkpoint_of_another_model_is_refused(zero_shot, tmp_path, capsys):
    cfg, model = zero_shot
    baked = bake(model, cfg.model, ['banded', 'striped'], '{} texture.')
    plain = str(tmp_path / 'plain.pth')
    torch.save(dict(state_dict=baked.state_dict), plain)
    err = _error(capsys, ZERO_SHOT, plain, '--out-dir', tmp_path / 'a',
                 '--classes', 'banded')
    assert f'Checkpoint {plain} does not fit the model of config ' \
        "'clip_tinyclip_procdtd.py' (method ImageClassifier/PromptClsHead/" \
        'HandcraftedPrompts): it holds keys the model does not have: ' in err
    assert "'backbone.cls_token'" in err
    assert err.endswith('Export it with the config it was trained with, or '
                        'pass the checkpoint of this config.')
    # The same with the meta of an exported file.
    torch.save(dict(meta=dict(mmprompt_export={}), state_dict={}), plain)
    err = _error(capsys, ZERO_SHOT, plain, '--out-dir', tmp_path / 'a',
                 '--classes', 'banded')
    assert f'checkpoint {plain} is a classifier exported by ' \
        'tools/deployment/export_classifier.py' in err
    # CoOp's context of ViT-B/16 (512-d) into the tiny CLIP (128-d).
    vitb = str(tmp_path / 'coop_vitb16.pth')
    torch.save(
        dict(state_dict={'head.prompt_learner.ctx': torch.zeros(4, 512)}),
        vitb)
    err = _error(capsys, COOP, vitb, '--out-dir', tmp_path / 'b', '--classes',
                 'banded')
    assert f'Checkpoint {vitb} does not fit the model' in err
    assert "Checkpoint context 'head.prompt_learner.ctx' has shape (4, 512) " \
        'but this CoOpPromptLearner expects (4, 128)' in err
    # A CoOp config without its checkpoint would bake untrained prompts.
    err = _error(capsys, COOP, '--out-dir', tmp_path / 'c', '--classes',
                 'banded')
    assert 'no checkpoint was given' in err and '--untrained' in err


def test_class_lists_and_output_folders_are_checked(tmp_path, capsys):
    err = _error(capsys, ZERO_SHOT, '--out-dir', tmp_path, '--classes', ' , ')
    assert "--classes ' , ' gives no class names" in err
    with pytest.raises(ConfigError, match=r"names \['b'\] more than once"):
        parse_class_list('a,b,b')
    (tmp_path / 'file').write_text('x')
    err = _error(capsys, ZERO_SHOT, '--out-dir', tmp_path / 'file',
                 '--classes', 'banded')
    assert f'--out-dir {tmp_path / "file"} is a file, not a folder' in err


def test_open_clip_quick_gelu_and_resnet_towers():
    torch.manual_seed(0)
    encoder = OpenCLIPImageEncoder(
        TINY_MODEL, model_kwargs=dict(force_quick_gelu=True))
    backbone, neck, state = open_clip_vit_to_mmpretrain(encoder.visual)
    assert backbone['layer_cfgs'] == dict(act_cfg=dict(type='QuickGELU'))
    plain = build_plain_model(
        dict(type='ImageClassifier', backbone=backbone, neck=neck), state)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        assert (plain.extract_feat(x)[0] - encoder(x)[0]).abs().max() < 1e-5
    resnet = OpenCLIPImageEncoder('mmprompt-tiny-rn')
    with pytest.raises(
            NotExportableError,
            match='is a ModifiedResNet, not a '
            'vision transformer'):
        open_clip_vit_to_mmpretrain(resnet.visual)


def test_mmpretrain_vit_tower_with_projection_neck():
    """The tower of configs/coop/coop_mmpretrain-vitb16_dtd.py, tiny."""
    cfg = dict(
        type='FrozenTowerClassifier',
        backbone=dict(
            type='VisionTransformer',
            arch=dict(
                embed_dims=32,
                num_layers=1,
                num_heads=2,
                feedforward_channels=64),
            img_size=32,
            patch_size=8,
            pre_norm=True,
            out_type='cls_token',
            layer_cfgs=dict(act_cfg=dict(type='QuickGELU'))),
        neck=dict(type='CLIPProjectionNeck', in_channels=32, out_channels=64),
        head=dict(
            type='PromptClsHead',
            text_encoder=dict(
                type='OpenCLIPTextEncoder', model_name=TINY_MODEL),
            prompt_learner=dict(type='CoOpPromptLearner')))
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.backbone.init_weights()
    baked = bake(model.eval(), cfg, ['banded', 'striped', 'dotted'])
    plain = build_plain_model(baked.model, baked.state_dict)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert (plain(x) - model(x)).abs().max() <= ATOL


def test_pipeline_conversion():
    steps = plain_pipeline([
        dict(type='LoadCoOpImage', exif_orientation=True),
        dict(type='CenterCrop', crop_size=64),
        dict(type='PackInputs')
    ])
    assert steps[0] == dict(
        type='LoadImageFromFile',
        imdecode_backend='pillow',
        color_type='color')
    with pytest.raises(
            NotExportableError,
            match=r'pipeline\[1\] is MakeBelieve, which mmpretrain does not '
            'register'):
        plain_pipeline([dict(type='PackInputs'), dict(type='MakeBelieve')])
