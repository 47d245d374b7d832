# Copyright (c) mmprompt contributors. All rights reserved.
import pytest
import torch

from mmprompt.errors import ConfigError
from mmprompt.models import (TINY_MODEL, OpenCLIPTextEncoder,
                             build_prompt_init, get_tokenizer)
from mmprompt.registry import MODELS, TASK_UTILS


@pytest.fixture(scope='module')
def encoder():
    return OpenCLIPTextEncoder(model_name=TINY_MODEL)


def _eos(encoder):
    """The end-of-text embedding, with the id read from open_clip's own
    tokenizer (not from the encoder under test)."""
    eot = get_tokenizer(TINY_MODEL).encoder['<end_of_text>']
    return encoder.token_embedding.weight[eot].detach()


def test_same_st_tokens_are_identical_and_near_eos(encoder):
    torch.manual_seed(0)
    init = TASK_UTILS.build(dict(type='SameSTPromptInit', scale=0.1))
    tokens = init(encoder, 16)
    assert tokens.shape == (16, encoder.width)
    assert torch.equal(tokens, tokens[:1].expand(16, -1))
    # 'unit' noise: a unit vector scaled by 0.1 away from the EOS embedding.
    torch.testing.assert_close((tokens - _eos(encoder)).norm(dim=-1),
                               torch.full((16, ), 0.1))


def test_diff_st_tokens_are_distinct_and_near_eos(encoder):
    torch.manual_seed(0)
    tokens = TASK_UTILS.build(dict(type='DiffSTPromptInit',
                                   scale=0.1))(encoder, 16)
    offsets = tokens - _eos(encoder)
    torch.testing.assert_close(offsets.norm(dim=-1), torch.full((16, ), 0.1))
    assert torch.cdist(tokens, tokens).add(torch.eye(16)).min() > 1e-3
    # Gaussian noise: per-entry std = scale.
    gauss = TASK_UTILS.build(
        dict(type='DiffSTPromptInit', scale=0.05, noise='gaussian'))
    offsets = gauss(encoder, 16) - _eos(encoder)
    assert 0.04 < offsets.std().item() < 0.06


def test_draws_follow_the_seed(encoder):
    init = TASK_UTILS.build(dict(type='DiffSTPromptInit'))
    torch.manual_seed(3)
    a = init(encoder, 4)
    torch.manual_seed(3)
    assert torch.equal(a, init(encoder, 4))
    assert not torch.equal(a, init(encoder, 4))


def test_phrase_and_random(encoder):
    phrase = TASK_UTILS.build(
        dict(type='PhrasePromptInit', phrase='a photo of'))
    assert phrase.default_num_tokens(encoder) == 3
    expected = encoder.embed(encoder.tokenize('a photo of'))[0, 1:4]
    torch.testing.assert_close(phrase(encoder, 3), expected.detach())
    with pytest.raises(
            ValueError,
            match=r"5 tokens requested but the "
            r"phrase 'a photo of' has 3"):
        phrase(encoder, 5)
    torch.manual_seed(0)
    random = TASK_UTILS.build(dict(type='RandomPromptInit', std=0.02))(encoder,
                                                                       64)
    assert 0.018 < random.std().item() < 0.022
    assert abs(random.mean().item()) < 0.002


def test_build_prompt_init_and_errors():
    assert type(build_prompt_init(None)).__name__ == 'RandomPromptInit'
    assert build_prompt_init('a photo').phrase == 'a photo'
    with pytest.raises(TypeError, match='a prompt init must be'):
        build_prompt_init(3)
    with pytest.raises(ValueError, match="noise must be one of"):
        TASK_UTILS.build(dict(type='SameSTPromptInit', noise='uniform'))


@pytest.mark.parametrize('ctx_init', [
    dict(type='SameSTPromptInit'),
    dict(type='DiffSTPromptInit'),
    dict(type='RandomPromptInit'), None, 'a photo of a'
])
def test_coop_takes_any_initialiser(encoder, ctx_init):
    torch.manual_seed(0)
    learner = MODELS.build(
        dict(type='CoOpPromptLearner', ctx_init=ctx_init),
        default_args=dict(text_encoder=encoder))
    n_ctx = 4 if isinstance(ctx_init, str) else 16
    assert learner.ctx.shape == (n_ctx, encoder.width)
    if isinstance(ctx_init, dict) and 'ST' in ctx_init['type']:
        near = (learner.ctx - _eos(encoder)).norm(dim=-1)
        torch.testing.assert_close(near, torch.full((n_ctx, ), 0.1))
    learner.set_class_names(['banded', 'dotted'], encoder)
    assert learner(encoder).shape == (2, encoder.embed_dim)
    csc = MODELS.build(
        dict(
            type='CoOpPromptLearner',
            ctx_init=ctx_init,
            n_ctx=n_ctx,
            class_specific=True,
            num_classes=3),
        default_args=dict(text_encoder=encoder))
    assert csc.ctx.shape == (3, n_ctx, encoder.width)


def test_stats_tool_prints_one_row_per_initialiser():
    import os
    import os.path as osp
    import subprocess
    import sys
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    proc = subprocess.run([
        sys.executable, 'tools/analysis_tools/prompt_init_stats.py', '--model',
        TINY_MODEL, '--pretrained', 'none', '--n-ctx', '4'
    ],
                          cwd=repo,
                          capture_output=True,
                          text=True,
                          timeout=120,
                          env=dict(os.environ, HF_HUB_OFFLINE='1'))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [
        line.split(' | ') for line in proc.stdout.splitlines()
        if line.startswith('| ') and '---' not in line
    ]
    assert [r[0] for r in rows
            ] == ['| init', '| phrase', '| random', '| same_st', '| diff_st']
    same_st = [float(v) for v in rows[3][1:5]]
    same_all = [float(v.rstrip(' |')) for v in rows[3][5:9]]
    # same_st: all tokens identical, so the first token has the mean, min
    # and max of all tokens. The sample stds differ by Bessel's correction:
    # W values against 4 W (4 tokens of width W), so their ratio is
    # sqrt((4W - 1) / (4 (W - 1))); the table rounds each to 4 decimals.
    assert [same_st[i] for i in (0, 2, 3)] == [same_all[i] for i in (0, 2, 3)]
    width = MODELS.build(
        dict(type='OpenCLIPTextEncoder', model_name=TINY_MODEL)).width
    bessel = ((4 * width - 1) / (4 * (width - 1)))**0.5
    assert same_st[1] == pytest.approx(same_all[1] * bessel, abs=1.2e-4)
    # The initialisers draw independently: diff_st's first token is not
    # same_st's (the tool once reseeded before each, making them equal).
    diff_st = [float(v) for v in rows[4][1:5]]
    assert diff_st != same_st


def _stats_tool():
    import importlib.util
    import os.path as osp
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    spec = importlib.util.spec_from_file_location(
        'prompt_init_stats',
        osp.join(repo, 'tools/analysis_tools/prompt_init_stats.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stats_tool_draws_each_initialiser_independently(encoder):
    tool = _stats_tool()
    draws = tool.draw_inits(encoder, n_ctx=4, seed=1)
    assert not torch.equal(draws['same_st'][0], draws['diff_st'][0])
    assert torch.equal(draws['same_st'], draws['same_st'][:1].expand(4, -1))
    # Reproducible from the seed; another seed draws other noise.
    again = tool.draw_inits(encoder, n_ctx=4, seed=1)
    assert all(torch.equal(draws[k], again[k]) for k in draws)
    other = tool.draw_inits(encoder, n_ctx=4, seed=2)
    assert not torch.equal(draws['diff_st'], other['diff_st'])
    gauss = tool.draw_inits(
        encoder, n_ctx=4, seed=1, noise='gaussian', scale=0.05)
    offsets = gauss['diff_st'] - _eos(encoder)
    assert 0.04 < offsets.std().item() < 0.06


def test_the_documented_config_override(tmp_path):
    import os.path as osp

    from mmengine.config import Config
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    path = tmp_path / 'diff_st.py'
    path.write_text(
        f"_base_ = ['{repo}/configs/coop/coop_tiny_synthetic.py']\n"
        'model = dict(head=dict(prompt_learner=dict(ctx_init=dict('
        "_delete_=True, type='DiffSTPromptInit'), n_ctx=16)))\n")
    cfg = Config.fromfile(str(path))
    model = MODELS.build(cfg.model)
    encoder = model.head.text_encoder
    offsets = model.head.prompt_learner.ctx - _eos(encoder)
    torch.testing.assert_close(offsets.norm(dim=-1), torch.full((16, ), 0.1))


class _WrongEOTEncoder(OpenCLIPTextEncoder):
    """An encoder whose eot_token_id points at the start token."""

    @property
    def eot_token_id(self) -> int:
        return self.sot_token_id


@pytest.mark.parametrize('type_', ['SameSTPromptInit', 'DiffSTPromptInit'])
def test_st_init_checks_the_tokenizers_end_of_text_id(type_):
    wrong = _WrongEOTEncoder(model_name=TINY_MODEL)
    with pytest.raises(
            RuntimeError,
            match=r'_WrongEOTEncoder.eot_token_id is 49406, but '
            r'its tokenizer ends a text with token 49407'):
        TASK_UTILS.build(dict(type=type_))(wrong, 4)
    with pytest.raises(RuntimeError, match='eot_token_id is 49406'):
        MODELS.build(
            dict(type='CoOpPromptLearner', ctx_init=dict(type=type_)),
            default_args=dict(text_encoder=wrong))


def test_st_noise_forms_and_unchanged_default(encoder):
    """RPO's unit noise (default, alias 'rpo') and the seed's Gaussian."""
    width = encoder.width
    torch.manual_seed(5)
    expected = _eos(encoder) + torch.nn.functional.normalize(
        torch.randn(1, width), dim=-1) * 0.1
    for cfg in (dict(), dict(scale=0.1, noise='unit'), dict(noise='rpo')):
        torch.manual_seed(5)
        init = TASK_UTILS.build(dict(type='SameSTPromptInit', **cfg))
        tokens = init(encoder, 3)
        assert torch.equal(tokens, expected.expand(3, -1))
    torch.manual_seed(5)
    expected = _eos(encoder) + torch.randn(3, width) * 0.2
    torch.manual_seed(5)
    tokens = TASK_UTILS.build(
        dict(type='DiffSTPromptInit', noise='gaussian', std=0.2))(encoder, 3)
    assert torch.equal(tokens, expected)
    with pytest.raises(
            ConfigError,
            match=r"std=0.2 is the per-entry sigma "
            r"of noise='gaussian', but noise='unit'"):
        TASK_UTILS.build(dict(type='DiffSTPromptInit', std=0.2))
    with pytest.raises(
            ConfigError, match='scale must be a number >= 0, but '
            'got -1'):
        TASK_UTILS.build(dict(type='DiffSTPromptInit', scale=-1))


def test_dapt_st_configs_name_their_noise():
    """Every ST config spells out its noise, and the README says which."""
    import glob
    import os.path as osp

    from mmengine.config import Config
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    readme = open(osp.join(repo, 'configs/dapt/README.md')).read()
    paths = sorted(glob.glob(osp.join(repo, 'configs/dapt/dapt-*-st_*.py')))
    assert len(paths) == 22
    for path in paths:
        init = Config.fromfile(path).model.head.prompt_learner.ctx_init
        assert (init.get('noise'), init.get('scale')) == ('unit', 0.1), path
        assert init.type == ('SameSTPromptInit'
                             if '-same-st_' in path else 'DiffSTPromptInit')
    assert ("| `dapt-same-st_*.py` (EuroSAT, OxfordPets, tiny CLIP) | "
            "`SameSTPromptInit(scale=0.1, noise='unit')`") in readme
    assert ("| `dapt-diff-st_*.py` (EuroSAT, OxfordPets, tiny CLIP) | "
            "`DiffSTPromptInit(scale=0.1, noise='unit')`") in readme
