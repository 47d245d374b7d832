# VPT-deep on CLIP ViT-B/16 as MaPLe's code base runs it: 8 visual prompt
# tokens in every block (depth 12), fixed text "a photo of a {class}.".
_base_ = ['./clip_vitb16.py']

model = dict(
    type='VLPromptClassifier',
    head=dict(
        prompt_learner=dict(
            _delete_=True,
            type='VPTDeepPromptLearner',
            n_vision_ctx=8,
            depth=12,
            phrase='a photo of a')))
