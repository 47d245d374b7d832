# CoCoOp on CLIP ViT-B/16: 4 context vectors from "a photo of a", shifted per
# image by a meta-net Linear(512, 32) -> ReLU -> Linear(32, 512).
_base_ = ['./coop_vitb16.py']

model = dict(
    head=dict(
        type='CoCoOpHead',
        prompt_learner=dict(
            _delete_=True,
            type='CoCoOpPromptLearner',
            ctx_init='a photo of a',
            reduction=16)))
