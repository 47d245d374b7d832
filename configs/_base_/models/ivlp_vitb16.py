# IVLP (independent vision-language prompting) on CLIP ViT-B/16, MaPLe's
# official config: 2 text + 2 visual prompt tokens, depth 12 in both towers,
# text context from "a photo" of "a photo of a {class}.".
_base_ = ['./clip_vitb16.py']

model = dict(
    type='VLPromptClassifier',
    head=dict(
        prompt_learner=dict(
            _delete_=True,
            type='IVLPPromptLearner',
            n_ctx=2,
            n_vision_ctx=2,
            ctx_init='a photo of a',
            depth=12)))
