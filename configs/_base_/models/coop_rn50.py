# CoOp on CLIP ResNet-50 as in CoOp's few-shot experiments: 16 context vectors
# from N(0, 0.02^2), shared by all classes, class token at the end.
_base_ = ['./coop_vitb16.py']

model = dict(
    backbone=dict(model_name='RN50'),
    head=dict(
        text_encoder=dict(model_name='RN50'),
        prompt_learner=dict(n_ctx=16, ctx_init=None)))
