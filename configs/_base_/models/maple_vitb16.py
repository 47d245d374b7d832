# MaPLe on CLIP ViT-B/16: 2 context tokens learned from "a photo" of "a photo
# of a {class}.", deep prompts in blocks 1-8 of both towers (depth 9), visual
# prompts = Linear(512 -> 768)(text prompts) per layer.
_base_ = ['./clip_vitb16.py']

model = dict(
    type='VLPromptClassifier',
    head=dict(
        prompt_learner=dict(
            _delete_=True,
            type='MaPLePromptLearner',
            n_ctx=2,
            ctx_init='a photo of a',
            depth=9)))
