# Copyright (c) mmprompt contributors. All rights reserved.
"""RPO: read-only tokens in the open_clip towers, the prompt learner, the
head, and a learning run in the offline world."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from mmprompt.errors import ConfigError
from mmprompt.models.clip import (TINY_MODEL, ReadOnlyTokens,
                                  readonly_attention_mask)
from mmprompt.registry import MODELS

CLASSES = ['cat', 'dog', 'traffic_light']
TEXT = dict(type='OpenCLIPTextEncoder', model_name=TINY_MODEL)
IMAGE = dict(type='OpenCLIPImageEncoder', model_name=TINY_MODEL)
INF = float('-inf')


@pytest.fixture(scope='module')
def encoders():
    torch.manual_seed(0)
    return MODELS.build(TEXT), MODELS.build(IMAGE)


@pytest.fixture(scope='module')
def double_encoders():
    """float64 towers: the read-only property holds to 1e-12 there (float32
    differs by rounding only, as the sequences have other lengths)."""
    torch.manual_seed(0)
    return MODELS.build(TEXT).double(), MODELS.build(IMAGE).double()


def _texts(text):
    tokens = text.tokenize([
        'a photo of a cat.', 'a dog.', 'a long text '
        'about a traffic light at night.'
    ])
    return text.embed(tokens), tokens


# ---------------------------------------------------------------- the mask


def test_mask_hides_the_appended_tokens_from_the_originals():
    causal = torch.full((3, 3), INF).triu(1)
    mask = readonly_attention_mask(3, 2, base=causal)
    expected = torch.tensor([
        [0, INF, INF, INF, INF],
        [0, 0, INF, INF, INF],
        [0, 0, 0, INF, INF],
        [0, 0, 0, INF, INF],  # prompts: the originals, not themselves
        [0, 0, 0, INF, INF],
    ])
    assert torch.equal(mask, expected)
    # 'self': each prompt also sees itself; 'all': every prompt.
    own = readonly_attention_mask(3, 2, among='self')
    assert torch.equal(own[3:, 3:], torch.tensor([[0, INF], [INF, 0]]))
    assert torch.equal(own[:3, :3], torch.zeros(3, 3))  # no base: full
    assert torch.equal(
        readonly_attention_mask(3, 2, among='all')[3:, 3:], torch.zeros(2, 2))
    with pytest.raises(ValueError, match="among='some'.*'none', 'self'"):
        readonly_attention_mask(3, 2, among='some')


def test_mask_per_row_lets_prompts_see_up_to_their_eot():
    visible = torch.tensor([[True, True, False], [True, True, True]])
    mask = readonly_attention_mask(3, 1, visible=visible)
    assert mask.shape == (2, 4, 4)
    assert torch.equal(mask[0, 3], torch.tensor([0, 0, INF, INF]))
    assert torch.equal(mask[1, 3], torch.tensor([0, 0, 0, INF]))
    assert torch.equal(mask[0, :3], mask[1, :3])  # originals: unchanged


# ------------------------------------------------------------ the towers


def test_text_eot_features_are_those_without_read_only_tokens(
        double_encoders, encoders):
    for text, tol in ((double_encoders[0], 1e-12), (encoders[0], 1e-5)):
        embeds, tokens = _texts(text)
        prompts = torch.randn(5, text.width, dtype=embeds.dtype)
        with torch.no_grad():
            plain = text(embeds, tokens)
            for among in ('none', 'self', 'all'):
                feats, extra = text(
                    embeds, tokens, readonly=ReadOnlyTokens(prompts, among))
                assert extra.shape == (3, 5, text.embed_dim)
                torch.testing.assert_close(feats, plain, atol=tol, rtol=0)


def test_image_features_are_those_without_read_only_tokens(
        double_encoders, encoders):
    for image, tol in ((double_encoders[1], 1e-12), (encoders[1], 1e-5)):
        dtype = next(image.parameters()).dtype
        x = torch.randn(2, 3, 32, 32, dtype=dtype)
        prompts = torch.randn(4, image.width, dtype=dtype)
        with torch.no_grad():
            (plain, ) = image(x)
            for among in ('none', 'self', 'all'):
                feats, extra = image(x, ReadOnlyTokens(prompts, among))
                assert extra.shape == (2, 4, image.embed_dim)
                torch.testing.assert_close(feats, plain, atol=tol, rtol=0)


def test_prompt_outputs_follow_the_prompts_and_nothing_else(encoders):
    text, image = encoders
    embeds, tokens = _texts(text)
    x = torch.randn(2, 3, 32, 32)
    p = torch.randn(3, text.width)
    q = torch.randn(3, image.width)
    with torch.no_grad():
        _, t1 = text(embeds, tokens, readonly=ReadOnlyTokens(p))
        _, i1 = image(x, ReadOnlyTokens(q))
        # among='none': a prompt reads the originals only, so changing
        # prompt 0 changes output 0 alone.
        p2, q2 = p.clone(), q.clone()
        # (a random change: ln_pre would undo a constant shift)
        p2[0] += torch.randn(text.width)
        q2[0] += torch.randn(image.width)
        _, t2 = text(embeds, tokens, readonly=ReadOnlyTokens(p2))
        _, i2 = image(x, ReadOnlyTokens(q2))
        assert not torch.allclose(t1[:, 0], t2[:, 0])
        assert not torch.allclose(i1[:, 0], i2[:, 0])
        torch.testing.assert_close(t1[:, 1:], t2[:, 1:])
        torch.testing.assert_close(i1[:, 1:], i2[:, 1:])
        # ... whereas with 'all' the others read it too.
        _, t3 = text(embeds, tokens, readonly=ReadOnlyTokens(p, 'all'))
        _, t4 = text(embeds, tokens, readonly=ReadOnlyTokens(p2, 'all'))
        assert not torch.allclose(t3[:, 1:], t4[:, 1:])
        # A text prompt does not see the padding after its row's EOT: a
        # shorter batch (cut after the last EOT) gives the same outputs.
        short = tokens[1:2, :int(tokens[1].argmax()) + 1]
        _, alone = text(text.embed(short), short, readonly=ReadOnlyTokens(p))
        torch.testing.assert_close(alone[0], t1[1], atol=1e-5, rtol=0)


def test_read_only_tokens_get_gradients(encoders):
    text, image = encoders
    embeds, tokens = _texts(text)
    p = torch.randn(2, text.width, requires_grad=True)
    q = torch.randn(2, image.width, requires_grad=True)
    _, t = text(embeds, tokens, readonly=ReadOnlyTokens(p))
    _, i = image(torch.randn(1, 3, 32, 32), ReadOnlyTokens(q))
    (t.sum() + i.sum()).backward()
    assert p.grad.abs().sum() > 0 and q.grad.abs().sum() > 0


def test_towers_reject_bad_read_only_tokens(encoders):
    text, image = encoders
    embeds, tokens = _texts(text)
    with pytest.raises(
            ValueError, match=r'shape \(2, 7\) do not fit the '
            'text encoder'):
        text(embeds, tokens, readonly=ReadOnlyTokens(torch.randn(2, 7)))
    with pytest.raises(ValueError, match='2 rows of read-only tokens for 3'):
        text(
            embeds,
            tokens,
            readonly=ReadOnlyTokens(torch.randn(2, 1, text.width)))
    with pytest.raises(TypeError, match='must be a ReadOnlyTokens'):
        text(embeds, tokens, readonly=torch.randn(2, text.width))
    with pytest.raises(
            ValueError,
            match=r'shape \(0, 64\) do not fit the '
            'vision transformer'):
        image(torch.randn(1, 3, 32, 32), ReadOnlyTokens(torch.randn(0, 64)))
    rn = MODELS.build(
        dict(type='OpenCLIPImageEncoder', model_name='mmprompt-tiny-rn'))
    with pytest.raises(NotImplementedError, match='is a ModifiedResNet'):
        rn(torch.randn(1, 3, 32, 32), ReadOnlyTokens(torch.randn(2, 64)))


# -------------------------------------------------- learner, head, model


def _learner(encoders, **cfg):
    text, image = encoders
    learner = MODELS.build(
        dict(type='RPOPromptLearner', **cfg),
        default_args=dict(text_encoder=text, image_encoder=image))
    learner.set_class_names(CLASSES, text)
    return learner


def test_st_init_is_rpos_special_tokens_plus_unit_noise(encoders):
    text, image = encoders
    torch.manual_seed(3)
    learner = _learner(encoders, num_prompts=4)
    eos = text.token_embedding.weight[text.eot_token_id]
    for prompts, base in ((learner.text_prompts, eos),
                          (learner.vision_prompts, image.class_embedding)):
        assert prompts.shape == (4, base.numel())
        noise = prompts.detach() - base
        torch.testing.assert_close(noise.norm(dim=-1), torch.full((4, ), .1))
        assert not torch.allclose(noise[0], noise[1])  # a draw per token
    # RPO's own draws: torch.randn(K, d) for the text, then for the image.
    torch.manual_seed(3)
    t_noise = F.normalize(torch.randn(4, text.width), dim=-1) * 0.1
    v_noise = F.normalize(torch.randn(4, image.width), dim=-1) * 0.1
    torch.testing.assert_close(learner.text_prompts.detach(), eos + t_noise)
    torch.testing.assert_close(learner.vision_prompts.detach(),
                               image.class_embedding + v_noise)
    # same_st / gaussian / random variants in the visual tower too.
    same = _learner(
        encoders,
        num_prompts=3,
        vision_init=dict(type='SameSTPromptInit', scale=0.1))
    assert torch.equal(same.vision_prompts[0], same.vision_prompts[2])
    rand = _learner(
        encoders,
        num_prompts=3,
        vision_init=dict(type='RandomPromptInit', std=0.02))
    assert rand.vision_prompts.abs().max() < 0.2


def test_learner_checks_its_settings(encoders):
    for k in (0, -2, 1.5, True):
        with pytest.raises(
                ConfigError, match=f'num_prompts={k!r}; RPO needs '
                'K >= 1'):
            _learner(encoders, num_prompts=k)
    with pytest.raises(ConfigError, match="among='both'"):
        _learner(encoders, among='both')
    with pytest.raises(
            ConfigError, match=r"template='a photo' needs a '\{\}'"):
        _learner(encoders, template='a photo')
    with pytest.raises(ConfigError, match='vision_init must be a SameST'):
        _learner(encoders, vision_init='a photo of a')
    text, _ = encoders
    learner = MODELS.build(
        dict(type='RPOPromptLearner', template='dataset'),
        default_args=dict(text_encoder=text))
    learner.set_class_names(CLASSES, text, template='{} texture.')
    assert learner.tokens.shape[0] == 3
    with pytest.raises(
            ConfigError,
            match="template='dataset' but the "
            'dataset has no template'):
        learner.set_class_names(CLASSES, text)
    loose = MODELS.build(
        dict(type='RPOPromptLearner'), default_args=dict(text_encoder=text))
    with pytest.raises(RuntimeError, match='no image encoder is bound'):
        loose.visual_prompts()
    rn = MODELS.build(
        dict(type='OpenCLIPImageEncoder', model_name='mmprompt-tiny-rn'))
    with pytest.raises(NotImplementedError, match='is a ModifiedResNet'):
        loose.bind_image_encoder(rn)


def test_text_features_are_the_prompt_outputs_of_the_class_texts(encoders):
    text, _ = encoders
    learner = _learner(encoders, num_prompts=3)
    with torch.no_grad():
        feats = learner(text)
        tokens = text.tokenize(
            [f'a photo of a {n.replace("_", " ")}.' for n in CLASSES])
        _, expected = text(
            text.embed(tokens),
            tokens,
            readonly=ReadOnlyTokens(learner.text_prompts))
    assert feats.shape == (3, 3, text.embed_dim)
    torch.testing.assert_close(feats, expected)


def _model(**learner):
    torch.manual_seed(0)
    model = MODELS.build(
        dict(
            type='VLPromptClassifier',
            backbone=IMAGE,
            head=dict(
                type='RPOHead',
                text_encoder=TEXT,
                prompt_learner=dict(type='RPOPromptLearner', **learner))))
    model.head.set_class_names(CLASSES)
    return model


def test_logits_average_the_k_prompt_pairs():
    model = _model(num_prompts=3)
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    with torch.no_grad():
        logits = model(x, mode='tensor')
        feats, prompt_feats = model.backbone(
            x, model.head.prompt_learner.visual_prompts())
        text = model.head.prompt_learner(model.head.text_encoder)
    image = F.normalize(prompt_feats, dim=-1)
    text = F.normalize(text, dim=-1)
    scale = model.head.text_encoder.logit_scale.exp()
    expected = sum(scale * image[:, i] @ text[:, i].t() for i in range(3)) / 3
    torch.testing.assert_close(logits, expected)
    # Training: cross-entropy on these logits, gradients to both prompts.
    model.train()
    samples = [DataSample().set_gt_label(i) for i in (0, 2)]
    loss = model.loss(x, samples)['loss']
    torch.testing.assert_close(loss,
                               F.cross_entropy(expected, torch.tensor([0, 2])))
    loss.backward()
    learner = model.head.prompt_learner
    assert learner.text_prompts.grad.abs().sum() > 0
    assert learner.vision_prompts.grad.abs().sum() > 0
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert sorted(trainable) == [
        'head.prompt_learner.text_prompts',
        'head.prompt_learner.vision_prompts'
    ]
    # The checkpoint holds only the prompts.
    assert sorted(model.state_dict()) == sorted(trainable)


def test_head_needs_prompt_features():
    model = _model(num_prompts=2)
    with pytest.raises(
            ConfigError,
            match=r'\(B, K, embed_dim\) read-only '
            r'prompt features.*shape \(2, 64\)'):
        model.head((torch.randn(2, 64), ))


# ------------------------------------------------ learning in the offline


@pytest.mark.slow
def test_rpo_learns_the_base_classes(tmp_path):
    from mmengine.config import Config
    from mmengine.runner import Runner

    from mmprompt.offline import make_procedural_dataset
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    root = str(tmp_path / 'procdtd')
    make_procedural_dataset(root, num_train=16, num_val=2, num_test=12, seed=7)

    def run(config, epochs=None, **options):
        cfg = Config.fromfile(osp.join(repo, config))
        cfg.merge_from_dict(options)
        cfg.work_dir = str(tmp_path / osp.basename(config))
        for split in ('train', 'val', 'test'):
            if cfg.get(f'{split}_dataloader'):
                cfg[f'{split}_dataloader'].dataset.data_root = root
        cfg.default_hooks.logger.interval = 50
        if not epochs:
            return Runner.from_cfg(cfg).test()
        cfg.train_cfg.max_epochs = epochs
        cfg.train_cfg.val_interval = epochs + 1
        cfg.default_hooks.checkpoint.interval = epochs
        runner = Runner.from_cfg(cfg)
        runner.train()
        return runner.test()

    zero_shot = run('configs/zeroshot/clip_tinyclip_procdtd.py')
    # RPO's lr 0.01 at batch 4 scaled to batch 32 (lr 0.08), 4 epochs: 8
    # iterations an epoch instead of 60, so the test stays short.
    rpo = run(
        'configs/rpo/rpo_tinyclip_procdtd.py',
        epochs=4,
        **{
            'train_dataloader.batch_size': 32,
            'optim_wrapper.optimizer.lr': 0.08
        })
    print(f'zero-shot {zero_shot}\nRPO       {rpo}')
    assert rpo['base/top1'] > zero_shot['base/top1'] + 4
    assert 0 <= rpo['new/top1'] <= 100
