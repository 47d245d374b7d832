# PromptSRC on CLIP ViT-B/16 (official vit_b16_c2_ep20_batch4_4+4ctx): IVLP
# prompts (4 text tokens from "a photo of a", 4 visual tokens, depth 9 in both
# towers) trained with CE + 25 L1(text, frozen 60-template text) + 10 L1(image,
# frozen image) + KL to the frozen zero-shot logits.
_base_ = ['./clip_vitb16.py']

model = dict(
    type='VLPromptClassifier',
    head=dict(
        type='PromptSRCHead',
        prompt_learner=dict(
            _delete_=True,
            type='IVLPPromptLearner',
            n_ctx=4,
            n_vision_ctx=4,
            ctx_init='a photo of a',
            depth=9),
        knowledge_prompts=dict(
            type='HandcraftedPrompts', templates='promptsrc60', average='raw'),
        loss_text=dict(type='L1DistanceLoss', loss_weight=25.0),
        loss_image=dict(type='L1DistanceLoss', loss_weight=10.0),
        loss_kl=dict(
            type='KLDivergenceLoss',
            loss_weight=1.0,
            reduction='elementwise_mean')))
