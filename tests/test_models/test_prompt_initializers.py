# Copyright (c) mmprompt contributors. All rights reserved.
import pytest
import torch

from mmprompt.models import TINY_MODEL, OpenCLIPTextEncoder, build_prompt_init
from mmprompt.registry import MODELS


@pytest.fixture(scope='module')
def encoder():
    return OpenCLIPTextEncoder(model_name=TINY_MODEL)


def _eos(encoder):
    return encoder.token_embedding.weight[encoder.eot_token_id].detach()


def test_same_st_tokens_are_identical_and_near_eos(encoder):
    torch.manual_seed(0)
    init = MODELS.build(dict(type='SameSTPromptInit', scale=0.1))
    tokens = init(encoder, 16)
    assert tokens.shape == (16, encoder.width)
    assert torch.equal(tokens, tokens[:1].expand(16, -1))
    # 'unit' noise: a unit vector scaled by 0.1 away from the EOS embedding.
    torch.testing.assert_close((tokens - _eos(encoder)).norm(dim=-1),
                               torch.full((16, ), 0.1))


def test_diff_st_tokens_are_distinct_and_near_eos(encoder):
    torch.manual_seed(0)
    tokens = MODELS.build(dict(type='DiffSTPromptInit', scale=0.1))(encoder,
                                                                    16)
    offsets = tokens - _eos(encoder)
    torch.testing.assert_close(offsets.norm(dim=-1), torch.full((16, ), 0.1))
    assert torch.cdist(tokens, tokens).add(torch.eye(16)).min() > 1e-3
    # Gaussian noise: per-entry std = scale.
    gauss = MODELS.build(
        dict(type='DiffSTPromptInit', scale=0.05, noise='gaussian'))
    offsets = gauss(encoder, 16) - _eos(encoder)
    assert 0.04 < offsets.std().item() < 0.06


def test_draws_follow_the_seed(encoder):
    init = MODELS.build(dict(type='DiffSTPromptInit'))
    torch.manual_seed(3)
    a = init(encoder, 4)
    torch.manual_seed(3)
    assert torch.equal(a, init(encoder, 4))
    assert not torch.equal(a, init(encoder, 4))


def test_phrase_and_random(encoder):
    phrase = MODELS.build(dict(type='PhrasePromptInit', phrase='a photo of'))
    assert phrase.default_num_tokens(encoder) == 3
    expected = encoder.embed(encoder.tokenize('a photo of'))[0, 1:4]
    torch.testing.assert_close(phrase(encoder, 3), expected.detach())
    with pytest.raises(ValueError, match=r"5 tokens requested but the "
                       r"phrase 'a photo of' has 3"):
        phrase(encoder, 5)
    torch.manual_seed(0)
    random = MODELS.build(dict(type='RandomPromptInit', std=0.02))(encoder,
                                                                   64)
    assert 0.018 < random.std().item() < 0.022
    assert abs(random.mean().item()) < 0.002


def test_build_prompt_init_and_errors():
    assert type(build_prompt_init(None)).__name__ == 'RandomPromptInit'
    assert build_prompt_init('a photo').phrase == 'a photo'
    with pytest.raises(TypeError, match='a prompt init must be'):
        build_prompt_init(3)
    with pytest.raises(ValueError, match="noise must be one of"):
        MODELS.build(dict(type='SameSTPromptInit', noise='uniform'))


@pytest.mark.parametrize('ctx_init', [
    dict(type='SameSTPromptInit'), dict(type='DiffSTPromptInit'),
    dict(type='RandomPromptInit'), None, 'a photo of a'])
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
        dict(type='CoOpPromptLearner', ctx_init=ctx_init, n_ctx=n_ctx,
             class_specific=True, num_classes=3),
        default_args=dict(text_encoder=encoder))
    assert csc.ctx.shape == (3, n_ctx, encoder.width)


def test_stats_tool_prints_one_row_per_initialiser():
    import os
    import os.path as osp
    import subprocess
    import sys
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    proc = subprocess.run(
        [sys.executable, 'tools/analysis_tools/prompt_init_stats.py',
         '--model', TINY_MODEL, '--pretrained', 'none', '--n-ctx', '4'],
        cwd=repo, capture_output=True, text=True, timeout=120,
        env=dict(os.environ, HF_HUB_OFFLINE='1'))
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [line.split(' | ') for line in proc.stdout.splitlines()
            if line.startswith('| ') and '---' not in line]
    assert [r[0] for r in rows] == ['| init', '| phrase', '| random',
                                    '| same_st', '| diff_st']
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
