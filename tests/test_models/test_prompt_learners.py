# Copyright (c) mmprompt contributors. All rights reserved.
from unittest.mock import patch

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
            text_encoder,
            [f'a photo of a {c.replace("_", " ")}.' for c in CLASSES])
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
    expected = _embed_text(text_encoder,
                           [text.format(c.replace('_', ' ')) for c in CLASSES])
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
    with pytest.raises(
            ValueError,
            match="n_ctx=2 but ctx_init='a photo of "
            "a' has 4 tokens"):
        _coop(text_encoder, n_ctx=2)
    with pytest.raises(ValueError, match='needs num_classes'):
        _coop(text_encoder, class_specific=True)
    with pytest.raises(ValueError, match="class_token_position='left'"):
        _coop(text_encoder, class_token_position='left')
    learner = _coop(text_encoder)
    with pytest.raises(
            RuntimeError,
            match=r'default_hooks\.class_names=dict\(type=.SetClassNamesHook'):
        learner(text_encoder)


def test_gradient_reaches_only_the_context(text_encoder):
    learner = _coop(text_encoder)
    learner.set_class_names(CLASSES, text_encoder)
    learner(text_encoder).sum().backward()
    assert learner.ctx.grad is not None and learner.ctx.grad.abs().sum() > 0
    assert all(p.grad is None for p in text_encoder.parameters())


def test_checkpoint_moves_across_class_lists_and_checks_shapes(text_encoder):
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
    with pytest.raises(
            ValueError,
            match=r'has shape \(4, 64\).*expects '
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


def _by_hand_ensemble(encoder, templates, classes):
    """ZeroshotCLIP2: normalise each template's features, average, and
    normalise again."""
    names = [c.replace('_', ' ') for c in classes]
    feats = [
        torch.nn.functional.normalize(
            encoder.encode_text([t.format(n) for n in names]), dim=-1)
        for t in templates
    ]
    return torch.nn.functional.normalize(sum(feats) / len(feats), dim=-1)


def test_imagenet_select_plus_dataset_is_coops_zeroshotclip2(text_encoder):
    from mmprompt.templates import IMAGENET_TEMPLATES_SELECT, get_templates
    select = list(IMAGENET_TEMPLATES_SELECT)
    assert len(select) == 7
    assert get_templates('imagenet_select+EuroSAT'
                         ) == select + ['a centered satellite photo of {}.']
    assert get_templates('imagenet_select+dtd') == select + ['{} texture.']
    # ImageNet: the 7 alone; its variants get their own template.
    assert get_templates('imagenet_select+ImageNet') == select
    assert get_templates(
        'imagenet_select+imagenet-v2') == select + ['a photo of a {}.']
    learner = MODELS.build(
        dict(type='HandcraftedPrompts', templates='imagenet_select+dataset'))
    with patch('mmprompt.models.prompt_learners.handcrafted.print_log') as log:
        learner.set_class_names(CLASSES, text_encoder, template='{} texture.')
    assert learner.resolved_templates == select + ['{} texture.']
    assert 'prompt ensembling over 8 templates' in log.call_args[0][0]
    with torch.no_grad():
        torch.testing.assert_close(
            torch.nn.functional.normalize(learner(text_encoder), dim=-1),
            _by_hand_ensemble(text_encoder, select + ['{} texture.'], CLASSES))
    learner.set_class_names(
        CLASSES,
        text_encoder,
        template='a photo of a {}.',
        dataset_name='ImageNet')
    assert learner.resolved_templates == select
    with torch.no_grad():
        torch.testing.assert_close(
            torch.nn.functional.normalize(learner(text_encoder), dim=-1),
            _by_hand_ensemble(text_encoder, select, CLASSES))


def test_set_plus_dataset_errors(text_encoder):
    from mmprompt.errors import ConfigError
    from mmprompt.templates import get_templates
    with pytest.raises(
            ConfigError,
            match=r"'imagenet_select\+foo': 'foo' "
            r'after "\+" is not a dataset'):
        get_templates('imagenet_select+foo')
    with pytest.raises(
            ConfigError,
            match=r"'bar\+dtd': 'bar' before "
            r'"\+" is not a named set'):
        get_templates('bar+dtd')
    learner = MODELS.build(
        dict(type='HandcraftedPrompts', templates='imagenet_select+dataset'))
    with pytest.raises(ConfigError, match='no dataset template is bound'):
        learner.set_class_names(CLASSES, text_encoder)
    # Without the dataset name, an ImageNet-like template is added, and the
    # log says how to get CoOp's ImageNet ensemble.
    with patch('mmprompt.models.prompt_learners.handcrafted.print_log') as log:
        learner.set_class_names(
            CLASSES, text_encoder, template='a photo of a {}.')
    assert len(learner.resolved_templates) == 8
    assert "use templates='imagenet_select' there" in log.call_args[0][0]


def test_phrase_of_multi_token_words_logs_token_counts(text_encoder):
    phrase = 'a photo of a high-resolution'
    with patch('mmprompt.models.prompt_learners.coop.print_log') as log:
        learner = _coop(text_encoder, ctx_init=phrase)
    assert learner.ctx.shape == (7, text_encoder.width)
    assert log.call_count == 1
    msg = log.call_args[0][0]
    assert (f"CoOpPromptLearner: ctx_init '{phrase}' is 7 tokens ('a' -> 1, "
            "'photo' -> 1, 'of' -> 1, 'a' -> 1, 'high-resolution' -> 3); all "
            '7 are learned context tokens (n_ctx=7).') in msg
    assert 'CoOp counts words: it would learn 5 context tokens' in msg
    assert 'copied' not in msg
    with patch('mmprompt.models.prompt_learners.coop.print_log') as log:
        csc = _coop(
            text_encoder, ctx_init=phrase, class_specific=True, num_classes=3)
    assert csc.ctx.shape == (3, 7, text_encoder.width)
    assert torch.equal(csc.ctx[0], csc.ctx[2])
    assert ('copied to each of the 3 class-specific contexts (CoOp ignores '
            'class_specific') in log.call_args[0][0]
    # One token per word: no CoOp note; random init: no log at all.
    with patch('mmprompt.models.prompt_learners.coop.print_log') as log:
        _coop(text_encoder, ctx_init='a photo of a')
        assert 'CoOp counts' not in log.call_args[0][0]
        _coop(text_encoder, ctx_init=None)
    assert log.call_count == 1


@pytest.fixture
def fresh_warnings():
    from mmprompt.models.prompt_learners import base
    base._WARNED_WORD_SETS.clear()
    yield
    base._WARNED_WORD_SETS.clear()


def _warnings(log):
    import logging
    return [
        c[0][0] for c in log.call_args_list
        if c[1].get('level') == logging.WARNING
    ]


def test_zero_token_embeddings_are_warned_once(fresh_warnings):
    encoder = OpenCLIPTextEncoder(model_name=TINY_MODEL)  # rows edited below
    zeroed = encoder.encode_words('zigzagged')
    with torch.no_grad():
        encoder.token_embedding.weight[zeroed] = 0
    handcrafted = MODELS.build(
        dict(type='HandcraftedPrompts', templates='{} texture.'))
    with patch('mmprompt.models.prompt_learners.base.print_log') as log:
        handcrafted.set_class_names(CLASSES, encoder)
        handcrafted.set_class_names(CLASSES, encoder)  # re-bound: no repeat
    warnings = _warnings(log)
    assert len(warnings) == 1
    assert ("HandcraftedPrompts: the token embedding of the text encoder "
            "'mmprompt-tiny' is all zero for the tokens of 1 word(s) of "
            "these prompts: 'zigzagged'.") in warnings[0]
    assert f'keeps {49408 - len(set(zeroed))} of 49408' in warnings[0]
    # CoOp: a zeroed word of a template phrase, not the placeholders.
    with torch.no_grad():
        encoder.token_embedding.weight[encoder.encode_words('photo')] = 0
    coop = _coop(encoder, ctx_init='a photo of a')
    random_ctx = _coop(encoder, ctx_init=None, n_ctx=4)
    with patch('mmprompt.models.prompt_learners.base.print_log') as log:
        coop.set_class_names(['banded'], encoder)
        random_ctx.set_class_names(['banded'], encoder)
    warnings = _warnings(log)
    assert len(warnings) == 1 and "these prompts: 'photo'." in warnings[0]


def test_shipped_tiny_clip_warns_about_unknown_class_names(fresh_warnings):
    from mmprompt.models import TINYCLIP_MODEL
    encoder = OpenCLIPTextEncoder(
        model_name=TINYCLIP_MODEL, pretrained='procdtd')
    learner = MODELS.build(
        dict(type='HandcraftedPrompts', templates='a photo of a {}.'))
    with patch('mmprompt.models.prompt_learners.base.print_log') as log:
        learner.set_class_names(['banded', 'zigzagged'], encoder)
        assert not _warnings(log)
        learner.set_class_names(['banded', 'cat', 'dog'], encoder)
    warnings = _warnings(log)
    assert len(warnings) == 1
    assert "2 word(s) of these prompts: 'cat', 'dog'." in warnings[0]
    assert 'keeps 95 of 49408 token embeddings' in warnings[0]


def test_zero_padding_row_is_not_a_missing_word(fresh_warnings):
    encoder = OpenCLIPTextEncoder(model_name=TINY_MODEL)  # rows edited below
    assert encoder.encode_words('!~') == [0, 349]  # id 0 pads, and is '!'

    with torch.no_grad():
        encoder.token_embedding.weight[0] = 0
    learner = MODELS.build(
        dict(type='HandcraftedPrompts', templates='a photo of a {}.'))
    with patch('mmprompt.models.prompt_learners.base.print_log') as log:
        learner.set_class_names(['banded', 'polka dotted'], encoder)
        assert not _warnings(log)
        learner.set_class_names(['banded', 'wow!~'], encoder)
    assert "1 word(s) of these prompts: '!~'." in _warnings(log)[0]
