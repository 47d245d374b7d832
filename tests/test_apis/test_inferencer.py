# Copyright (c) mmprompt contributors. All rights reserved.
"""PromptClassificationInferencer: any class list, with or without a
checkpoint, on mmprompt's pretrained tiny CLIP (offline)."""
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from PIL import Image

from mmprompt.apis import (PromptClassificationInferencer, check_classes,
                           check_template, check_topk, draw_predictions)
from mmprompt.errors import (CheckpointError, ConfigError, DataError,
                             PathNotFoundError)
from mmprompt.offline import (PROCEDURAL_SPLIT_FILE, render_texture,
                              write_coop_dataset)
from mmprompt.registry import DATASETS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
ZERO_SHOT = osp.join(REPO, 'configs/zeroshot/clip_tinyclip_procdtd.py')
COOP = osp.join(REPO, 'configs/coop/coop_tinyclip_procdtd.py')
MAPLE = osp.join(REPO, 'configs/maple/maple_tinyclip_procdtd.py')
DAPT = osp.join(REPO, 'configs/dapt/dapt_tinyclip_procdtd.py')
LINEAR = osp.join(REPO, 'configs/linear_probe/lp_tinyclip_procdtd_fewshot4.py')

#: The classes of the small dataset: CoOp trains on the first six.
CLASSES = ('banded', 'chequered', 'dotted', 'striped', 'zigzagged',
           'honeycombed', 'polka-dotted', 'cracked')
TRAIN_CLASSES = list(CLASSES[:6])


def _samples():
    for label, name in enumerate(CLASSES):
        folder = name.replace('-', '_')
        for split, count in (('train', 2), ('val', 1), ('test', 1)):
            for i in range(count):
                rng = np.random.default_rng([11, label, len(split), i])
                image, _ = render_texture(name, rng, style='downstream')
                yield (split, f'{folder}/{folder}_{split}{i}.png', label, name,
                       image)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    """A CoOp-layout dataset of 8 procedural classes (4 images each)."""
    root = str(tmp_path_factory.mktemp('classify') / 'procdtd')
    write_coop_dataset(root, PROCEDURAL_SPLIT_FILE, _samples())
    return root


def _image(data_root, name, split='test', i=0):
    folder = name.replace('-', '_')
    return osp.join(data_root, 'images', folder, f'{folder}_{split}{i}.png')


@pytest.fixture(scope='module')
def test_images(data_root):
    return [_image(data_root, name) for name in CLASSES]


@pytest.fixture(scope='module')
def zero_shot():
    return PromptClassificationInferencer(ZERO_SHOT, device='cpu')


@pytest.fixture(scope='module')
def coop_run(data_root, tmp_path_factory):
    """CoOp trained a few steps on six classes, saved as the runner saves
    (only the context: the frozen CLIP stays out of the state dict)."""
    untrained = PromptClassificationInferencer(
        COOP, device='cpu', untrained=True)
    model = untrained.model
    images = [
        _image(data_root, name, 'train', i) for name in TRAIN_CLASSES
        for i in range(2)
    ]
    before = untrained(images, classes=TRAIN_CLASSES, batch_size=12)
    model.head.set_class_names(TRAIN_CLASSES)
    batch = []
    for path in images:
        results = untrained._load(path)
        results['gt_label'] = TRAIN_CLASSES.index(
            osp.basename(osp.dirname(path)).replace('_', '-'))
        batch.append(untrained.pipeline(results))
    ctx = model.head.prompt_learner.ctx
    optimizer = torch.optim.SGD([ctx], lr=2.0)
    model.train()
    for _ in range(4):
        data = model.data_preprocessor(pseudo_collate(batch), True)
        loss = model(**data, mode='loss')['loss']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    state = model.state_dict()
    assert list(state) == ['head.prompt_learner.ctx']
    path = str(tmp_path_factory.mktemp('coop') / 'epoch_1.pth')
    torch.save(
        dict(
            meta=dict(
                mmprompt=dict(
                    method='ImageClassifier/PromptClsHead/CoOpPromptLearner',
                    config='coop_tinyclip_procdtd.py'),
                dataset_meta=dict(classes=tuple(TRAIN_CLASSES))),
            state_dict=state), path)
    trained = untrained(images, classes=TRAIN_CLASSES, batch_size=12)
    return dict(
        path=path,
        images=images,
        before=before,
        trained=trained,
        ctx=ctx.detach().clone())


@pytest.fixture(scope='module')
def coop(coop_run):
    return PromptClassificationInferencer(
        COOP, checkpoint=coop_run['path'], device='cpu')


@pytest.fixture(scope='module')
def maple_checkpoint(tmp_path_factory):
    untrained = PromptClassificationInferencer(
        MAPLE, device='cpu', untrained=True)
    torch.manual_seed(0)
    state = {  # other prompts than the initial ones
        name: value + 0.05 * torch.randn_like(value)
        for name, value in untrained.model.state_dict().items()
    }
    path = str(tmp_path_factory.mktemp('maple') / 'epoch_5.pth')
    torch.save(
        dict(
            meta=dict(
                mmprompt=dict(
                    method=untrained.method,
                    config='maple_tinyclip_procdtd.py')),
            state_dict=state), path)
    return path, untrained


def _scores(results):
    return np.stack([r['pred_scores'] for r in results])


# ---------------------------------------------------------------------------
# Zero-shot CLIP
# ---------------------------------------------------------------------------
def test_zero_shot_scores_are_the_models_test_step_softmax(
        zero_shot, data_root):
    # The model's own test step on the config's test dataset.
    cfg = zero_shot.config
    dataset = DATASETS.build(
        dict(cfg.test_dataloader.dataset, data_root=data_root))
    meta = dataset.metainfo
    assert meta['classes'] == CLASSES and meta['template'] == '{} texture.'
    model = zero_shot.model
    model.head.set_class_names(meta['classes'], template=meta['template'])
    with torch.no_grad():
        samples = model.test_step(
            pseudo_collate([dataset[i] for i in range(len(dataset))]))
    expected = torch.stack([s.pred_score for s in samples]).numpy()
    paths = [dataset.get_data_info(i)['img_path'] for i in range(len(dataset))]

    results = zero_shot(paths, classes=list(CLASSES), batch_size=3)
    np.testing.assert_allclose(_scores(results), expected, rtol=0, atol=1e-6)
    assert zero_shot.template == '{} texture.'
    # The tiny CLIP knows these textures: most test images are right.
    right = [r['pred_class'] for r in results] == list(CLASSES)
    hits = sum(r['pred_class'] == c for r, c in zip(results, CLASSES))
    assert right or hits >= 5, [r['pred_class'] for r in results]


def test_topk_is_sorted_and_consistent(zero_shot, test_images):
    results = zero_shot(test_images[:3], classes=list(CLASSES), topk=4)
    for result in results:
        scores = result['pred_scores']
        assert scores.shape == (len(CLASSES), )
        assert scores.sum() == pytest.approx(1, abs=1e-5)
        order = list(np.argsort(-scores, kind='stable')[:4])
        assert result['topk_labels'] == order
        assert result['topk_scores'] == pytest.approx(list(scores[order]))
        assert result['topk_scores'] == sorted(
            result['topk_scores'], reverse=True)
        assert result['topk_classes'] == [CLASSES[i] for i in order]
        assert result['pred_label'] == order[0]
        assert result['pred_class'] == CLASSES[order[0]]
        assert result['pred_score'] == pytest.approx(scores.max())
    # Five by default (all classes when fewer).
    assert len(
        zero_shot(test_images[0],
                  classes=list(CLASSES))[0]['topk_labels']) == 5
    assert len(
        zero_shot(test_images[0], classes=['banded',
                                           'striped'])[0]['topk_labels']) == 2


def test_arrays_and_paths_give_the_same_scores(zero_shot, test_images):
    classes = list(CLASSES)
    from_paths = zero_shot(test_images[:4], classes=classes, batch_size=4)
    bgr = [mmcv.imread(p) for p in test_images[:4]]
    from_arrays = zero_shot(bgr, classes=classes, batch_size=4)
    np.testing.assert_array_equal(_scores(from_arrays), _scores(from_paths))
    assert from_paths[0]['img_path'] == test_images[0]
    assert from_arrays[0]['img_path'] is None
    # Arrays are BGR: the same pixels read as RGB are another image.
    rgb = [np.ascontiguousarray(a[..., ::-1]) for a in bgr]
    assert not np.allclose(
        _scores(zero_shot(rgb, classes=classes, batch_size=4)),
        _scores(from_paths))
    # A grey (H, W) array is repeated to three channels.
    grey = bgr[0][..., 1]
    np.testing.assert_array_equal(
        _scores(zero_shot(grey, classes=classes)),
        _scores(zero_shot(np.repeat(grey[..., None], 3, 2), classes=classes)))


def test_template_and_class_list_change_the_text(zero_shot, test_images):
    default = zero_shot(test_images[0], classes=['banded', 'striped'])
    photo = zero_shot(
        test_images[0],
        classes=['banded', 'striped'],
        template='a photo of a {}.')
    assert not np.allclose(default[0]['pred_scores'], photo[0]['pred_scores'])
    # The call's template was for that call only.
    again = zero_shot(test_images[0], classes=['banded', 'striped'])
    np.testing.assert_array_equal(default[0]['pred_scores'],
                                  again[0]['pred_scores'])


def test_drawn_images(zero_shot, test_images, tmp_path):
    out = tmp_path / 'drawn'
    results = zero_shot(
        test_images[:2] + [mmcv.imread(test_images[2])],
        classes=list(CLASSES),
        topk=3,
        out_dir=str(out))
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([
        osp.basename(test_images[0]),
        osp.basename(test_images[1]), 'array_2.png'
    ])
    for result in results:
        with Image.open(result['out_file']) as image:
            image.load()
            assert image.size == (256, 256)  # 64 x 64, enlarged 4 times
            assert image.mode == 'RGB'
    # The drawing keeps the image (bottom right is below the text band).
    drawn = np.asarray(Image.open(results[0]['out_file']))
    source = mmcv.imread(test_images[0])[..., ::-1]
    np.testing.assert_array_equal(drawn[-4::4, -4::4], source[-1:, -1:])
    # A drawing never replaces an input.
    with pytest.raises(ConfigError, match='one of the input images'):
        zero_shot(
            test_images[0],
            classes=['banded', 'striped'],
            out_dir=osp.dirname(test_images[0]))


def test_draw_predictions_size():
    image = np.zeros((300, 500, 3), np.uint8)
    assert draw_predictions(image, ['1. a 0.50']).shape == (300, 500, 3)
    assert draw_predictions(image[:40, :100], ['x']).shape == (280, 700, 3)


# ---------------------------------------------------------------------------
# Checkpoints: CoOp (text prompts), MaPLe and DAPT (visual prompts)
# ---------------------------------------------------------------------------
def test_coop_checkpoint_loads_the_learned_context(coop, coop_run):
    ctx = coop.head.prompt_learner.ctx
    torch.testing.assert_close(ctx, coop_run['ctx'], rtol=0, atol=0)
    again = coop(coop_run['images'], classes=TRAIN_CLASSES, batch_size=12)
    np.testing.assert_allclose(
        _scores(again), _scores(coop_run['trained']), rtol=0, atol=1e-6)
    assert not np.allclose(
        _scores(again), _scores(coop_run['before']), atol=1e-3)
    # Without classes, the checkpoint's training classes are used.
    assert coop.classes == TRAIN_CLASSES


def test_coop_checkpoint_classifies_other_class_lists(coop, zero_shot,
                                                      test_images):
    for classes in (['honeycombed', 'polka-dotted', 'cracked'], list(CLASSES)):
        images = [test_images[CLASSES.index(c)] for c in classes]
        learned = coop(images, classes=classes, batch_size=8)
        handmade = zero_shot(images, classes=classes, batch_size=8)
        assert _scores(learned).shape == (len(classes), len(classes))
        np.testing.assert_allclose(_scores(learned).sum(1), 1, atol=1e-5)
        assert not np.allclose(_scores(learned), _scores(handmade), atol=1e-3)


def test_coop_refuses_a_template(coop, test_images):
    with pytest.raises(
            ConfigError,
            match=r"template 'a photo of a \{\}\.' would change nothing "
            r'with .*coop_tinyclip_procdtd\.py: its prompt learner '
            'CoOpPromptLearner learns the words around the class name'):
        coop(
            test_images[0],
            classes=['banded', 'striped'],
            template='a photo of a {}.')


def test_visual_prompt_checkpoint_classifies_any_classes(
        maple_checkpoint, test_images):
    path, untrained = maple_checkpoint
    maple = PromptClassificationInferencer(
        MAPLE, checkpoint=path, device='cpu')
    for name, value in torch.load(path)['state_dict'].items():
        torch.testing.assert_close(
            maple.model.state_dict()[name], value, rtol=0, atol=0)
    for classes in (['banded', 'striped'], list(CLASSES)):
        loaded = maple(test_images[:3], classes=classes, batch_size=3)
        initial = untrained(test_images[:3], classes=classes, batch_size=3)
        assert _scores(loaded).shape == (3, len(classes))
        assert not np.allclose(_scores(loaded), _scores(initial), atol=1e-4)


def test_dapt_checkpoint_with_prototypes(tmp_path, test_images):
    untrained = PromptClassificationInferencer(
        DAPT, device='cpu', untrained=True)
    # Its prototypes (of 15 training classes) serve only the loss.
    untrained.head.set_prototypes(torch.randn(15, 128))
    path = str(tmp_path / 'dapt.pth')
    torch.save(dict(state_dict=untrained.model.state_dict()), path)
    dapt = PromptClassificationInferencer(DAPT, checkpoint=path, device='cpu')
    assert dapt.head.prototypes.shape == (15, 128)
    results = dapt(test_images[:2], classes=['banded', 'striped', 'dotted'])
    np.testing.assert_array_equal(
        _scores(results),
        _scores(
            untrained(
                test_images[:2], classes=['banded', 'striped', 'dotted'])))


def test_checkpoint_of_another_method(maple_checkpoint, coop_run):
    path, _ = maple_checkpoint
    with pytest.raises(CheckpointError) as info:
        PromptClassificationInferencer(COOP, checkpoint=path, device='cpu')
    message = str(info.value)
    assert message.startswith(
        f'Checkpoint {path} does not fit the model of config '
        "'coop_tinyclip_procdtd.py' (method ImageClassifier/PromptClsHead/"
        "CoOpPromptLearner): Checkpoint context 'head.prompt_learner.ctx' "
        'has shape (2, 128) but this CoOpPromptLearner expects (4, 128)')
    assert "written by config 'maple_tinyclip_procdtd.py' (method " \
        'VLPromptClassifier/PromptClsHead/MaPLePromptLearner)' in message
    assert message.endswith('Classify with the config it was trained with '
                            '(--config), or give a checkpoint of this '
                            'config.')
    # A prompt checkpoint for zero-shot CLIP, which learns nothing.
    with pytest.raises(
            CheckpointError,
            match=r"of config 'clip_tinyclip_procdtd\.py' .*: it holds keys "
            r"the model does not have: 'head\.prompt_learner\.ctx'\. It was "
            r"written by config 'coop_tinyclip_procdtd\.py'"):
        PromptClassificationInferencer(
            ZERO_SHOT, checkpoint=coop_run['path'], device='cpu')


def test_checkpoint_with_other_prompt_shapes(coop_run, tmp_path):
    path = str(tmp_path / 'ctx8.pth')
    torch.save(
        dict(state_dict={'head.prompt_learner.ctx': torch.zeros(8, 128)}),
        path)
    with pytest.raises(
            CheckpointError,
            match=r"Checkpoint .*ctx8\.pth does not fit the model of config "
            r"'coop_tinyclip_procdtd\.py'.*'head\.prompt_learner\.ctx' has "
            r'shape \(8, 128\) but this CoOpPromptLearner expects \(4, 128\) '
            r'\(n_ctx=4, class_specific=False\)'):
        PromptClassificationInferencer(COOP, checkpoint=path, device='cpu')
    broken = tmp_path / 'broken.pth'
    broken.write_bytes(b'not a checkpoint')
    with pytest.raises(CheckpointError, match='broken.pth is not a complete'):
        PromptClassificationInferencer(COOP, checkpoint=str(broken))
    with pytest.raises(PathNotFoundError, match='missing.pth .*does not'):
        PromptClassificationInferencer(
            COOP, checkpoint=str(tmp_path / 'missing.pth'))


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------
def test_trained_config_without_checkpoint():
    with pytest.raises(
            ConfigError,
            match=r"coop_tinyclip_procdtd\.py trains 1 parameter tensor\(s\) "
            r"\('head\.prompt_learner\.ctx'\), but no checkpoint was given"):
        PromptClassificationInferencer(COOP, device='cpu')


def test_not_a_prompt_classifier():
    with pytest.raises(
            ConfigError,
            match=r'lp_tinyclip_procdtd_fewshot4\.py is not a prompt-learning'
            r' classifier: its model\.head is LinearClsHead, not a prompt '
            'head'):
        PromptClassificationInferencer(LINEAR, device='cpu')


@pytest.mark.parametrize('classes, message', [
    ([], r'classes is empty: give the names of the classes'),
    ('banded', r"classes must be a list of class names.*got 'banded'"),
    (['banded', ' '], r"classes: class 2 of 2 is empty \(' '\)"),
    (['banded', 'striped', 'banded'
      ], r"class 3 'banded' repeats it of class 1 'banded'"),
    (['polka_dotted', 'Polka dotted'
      ], r"class 2 'Polka dotted' writes the same prompt .* of class 1 "
     r"'polka_dotted'"),
    (['banded', 3], r'class 2 is 3 \(int\); class names must be strings'),
])
def test_bad_class_lists(classes, message):
    with pytest.raises(ConfigError, match=message):
        check_classes(classes)


def test_bad_topk_and_templates(zero_shot, test_images):
    with pytest.raises(
            ConfigError,
            match=r'topk=3 is more than the 2 classes given; use topk=2 or '
            'fewer'):
        zero_shot(test_images[0], classes=['banded', 'striped'], topk=3)
    with pytest.raises(ConfigError, match='topk=0 asks for no prediction'):
        check_topk(0, 2)
    assert check_topk(None, 3) == 3 and check_topk(None, 9) == 5
    with pytest.raises(
            ConfigError,
            match=r"template 'a photo' has no \"\{\}\": a template needs "
            'exactly one'):
        zero_shot(test_images[0], classes=['banded'], template='a photo')
    with pytest.raises(ConfigError, match=r'has 2 "\{\}"'):
        check_template('{} and {}')
    with pytest.raises(ConfigError, match='not a valid format string'):
        check_template('{} {x}')
    with pytest.raises(ConfigError, match=r'No class names: pass classes='):
        zero_shot(test_images[0])


def test_bad_images(zero_shot, tmp_path):
    missing = str(tmp_path / 'nope.png')
    with pytest.raises(
            PathNotFoundError, match=f"image '{missing}' does not exist"):
        zero_shot([missing], classes=['banded'])
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'GIF89a not really')
    with pytest.raises(
            DataError,
            match=f"cannot decode image '{broken}' .*it is truncated, "
            'corrupt or not an image'):
        zero_shot(str(broken), classes=['banded'])
    with pytest.raises(DataError, match=r'array of shape \(4, 4, 4\)'):
        zero_shot(np.zeros((4, 4, 4), np.uint8), classes=['banded'])
    with pytest.raises(DataError, match='float32 array; give uint8'):
        zero_shot(np.zeros((8, 8, 3), np.float32), classes=['banded'])
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(DataError, match='holds no image file'):
        zero_shot(str(empty), classes=['banded'])
