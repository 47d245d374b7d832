# RPO on CLIP ViT-B/16 (official configs/trainers/RPO/main_K24.yaml): K = 24
# read-only prompt pairs, text prompts after "a photo of a {class}." (the text
# of every dataset in RPO's configs/datasets/*.yaml) and visual prompts after
# the patch tokens. Nothing attends to the prompts (CLIP's own features are
# unchanged); they attend only to the original tokens. ST init in both
# towers: the EOS / CLS embedding + 0.1 * a unit-norm Gaussian direction per
# token (DiffSTPromptInit, noise='unit'). Logits: the mean over the 24 pairs.
_base_ = ['./clip_vitb16.py']

model = dict(
    type='VLPromptClassifier',
    head=dict(
        type='RPOHead',
        prompt_learner=dict(
            _delete_=True,
            type='RPOPromptLearner',
            num_prompts=24,
            template='a photo of a {}.',
            text_init=dict(type='DiffSTPromptInit', scale=0.1, noise='unit'),
            vision_init=dict(type='DiffSTPromptInit', scale=0.1,
                             noise='unit'))))
