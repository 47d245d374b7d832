# CoOp on CLIP ViT-B/16: 4 context vectors initialised from "a photo of a".
_base_ = ['./clip_vitb16.py']

model = dict(
    head=dict(
        prompt_learner=dict(
            _delete_=True,
            type='CoOpPromptLearner',
            ctx_init='a photo of a',
            class_specific=False,
            class_token_position='end')))
