# Copyright (c) mmprompt contributors. All rights reserved.
import pytest
import torch

from mmprompt.models import TINY_MODEL, OpenCLIPTextEncoder
from mmprompt.registry import MODELS

CLASSES = ['banded', 'polka_dotted', 'zigzagged']


@pytest.fixture(scope='module')
def text_encoder():
    return OpenCLIPTextEncoder(model_name=TINY_MODEL)


def _coop(text_encoder, **kwargs):
    return MODELS.build(
        dict(type='CoOpPromptLearner', text_encoder=text_encoder, **kwargs))


def _embed_text(encoder, texts):
    tokens = encoder.tokenize(texts)
    length = int(tokens.argmax(-1).max()) + 1
    return encoder.embed(tokens)[:, :length]


def test_phrase_init_reproduces_the_handcrafted_prompt(text_encoder):
    learner = _coop(text_encoder, ctx_init='a photo of a')
    assert learner.ctx.shape == (4, text_encoder.width)
    learner.set_class_names(CLASSES, text_encoder)
    with torch.no_grad():
        prompts = learner.assemble(learner.ctx)
        expected = _embed_text(
            text_encoder, [f'a photo of a {c.replace("_", " ")}.'
                           for c in CLASSES])
        torch.testing.assert_close(prompts, expected)
        zero_shot = MODELS.build(
            dict(type='HandcraftedPrompts', templates='a photo of a {}.'))
        zero_shot.set_class_names(CLASSES, text_encoder)
        torch.testing.assert_close(
            torch.nn.functional.normalize(learner(text_encoder), dim=-1),
            zero_shot(text_encoder),
            atol=1e-5,
            rtol=0)


@pytest.mark.parametrize('position,text', [
    ('front', '{} a photo of a.'),
    ('middle', 'a photo {} of a.'),
])
def test_class_token_positions(text_encoder, position, text):
    learner = _coop(text_encoder, class_token_position=position)
    learner.set_class_names(CLASSES, text_encoder)
    with torch.no_grad():
        prompts = learner.assemble(learner.ctx)
    expected = _embed_text(
        text_encoder, [text.format(c.replace('_', ' ')) for c in CLASSES])
    torch.testing.assert_close(prompts, expected)


def test_random_and_class_specific_context(text_encoder):
    torch.manual_seed(0)
    learner = _coop(text_encoder, ctx_init=None, n_ctx=16)
    assert learner.ctx.shape == (16, text_encoder.width)
    assert abs(learner.ctx.std().item() - 0.02) < 0.003
    csc = _coop(text_encoder, class_specific=True, num_classes=3)
    assert csc.ctx.shape == (3, 4, text_encoder.width)
    assert torch.equal(csc.ctx[0], csc.ctx[2])  # the phrase, per class
    csc.set_class_names(CLASSES, text_encoder)
    assert csc(text_encoder).shape == (3, 64)
    with pytest.raises(ValueError, match='built for 3 classes but 2'):
        csc.set_class_names(CLASSES[:2], text_encoder)


def test_bad_arguments(text_encoder):
    with pytest.raises(ValueError, match="n_ctx=2 but ctx_init='a photo of "
                       "a' has 4 tokens"):
        _coop(text_encoder, n_ctx=2)
    with pytest.raises(ValueError, match='needs num_classes'):
        _coop(text_encoder, class_specific=True)
    with pytest.raises(ValueError, match="class_token_position='left'"):
        _coop(text_encoder, class_token_position='left')
    learner = _coop(text_encoder)
    with pytest.raises(RuntimeError, match='SetClassNamesHook'):
        learner(text_encoder)


def test_gradient_reaches_only_the_context(text_encoder):
    learner = _coop(text_encoder)
    learner.set_class_names(CLASSES, text_encoder)
    learner(text_encoder).sum().backward()
    assert learner.ctx.grad is not None and learner.ctx.grad.abs().sum() > 0
    assert all(p.grad is None for p in text_encoder.parameters())


def test_checkpoint_moves_across_class_lists_and_checks_shapes(
        text_encoder):
    learner = _coop(text_encoder)
    learner.set_class_names(CLASSES, text_encoder)
    state = learner.state_dict()
    assert list(state) == ['ctx'], 'class-dependent tensors are not saved'
    other = _coop(text_encoder, ctx_init=None, n_ctx=4)
    other.set_class_names(['striped', 'grid'], text_encoder)
    other.load_state_dict(state)
    torch.testing.assert_close(other.ctx, learner.ctx)
    assert other(text_encoder).shape == (2, 64)
    wrong = _coop(text_encoder, ctx_init=None, n_ctx=16)
    with pytest.raises(ValueError, match=r'has shape \(4, 64\).*expects '
                       r'\(16, 64\).*n_ctx'):
        wrong.load_state_dict(state)


def test_handcrafted_ensemble_and_dataset_template(text_encoder):
    ensemble = MODELS.build(
        dict(
            type='HandcraftedPrompts',
            templates=['a photo of a {}.', 'a drawing of a {}.']))
    ensemble.set_class_names(CLASSES, text_encoder)
    single = [
        MODELS.build(dict(type='HandcraftedPrompts', templates=t))
        for t in ['a photo of a {}.', 'a drawing of a {}.']
    ]
    for s in single:
        s.set_class_names(CLASSES, text_encoder)
    with torch.no_grad():
        expected = (single[0](text_encoder) + single[1](text_encoder)) / 2
        torch.testing.assert_close(ensemble(text_encoder), expected)
    from_dataset = MODELS.build(dict(type='HandcraftedPrompts'))
    with pytest.raises(ValueError, match='needs a dataset with a'):
        from_dataset.set_class_names(CLASSES, text_encoder)
    from_dataset.set_class_names(CLASSES, text_encoder, template='{} texture.')
    assert from_dataset(text_encoder).shape == (3, 64)
