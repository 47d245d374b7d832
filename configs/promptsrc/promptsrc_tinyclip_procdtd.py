# PromptSRC on the procedural mini-DTD with mmprompt's pretrained tiny CLIP:
# base-to-new, 16 shots of the base classes, PromptSRC's losses and schedule
# (batch 4, SGD lr 0.0025, 20 epochs, Gaussian aggregation N(15, 1)) with 4 + 4
# prompt tokens in all 4 blocks of the tiny towers (depth 9 needs ViT-B/16's
# 12 blocks).
_base_ = [
    '../_base_/models/coop_tinyclip.py',
    '../_base_/datasets/coop_procdtd_base2new.py',
    '../_base_/schedules/promptsrc_sgd_cosine.py',
    '../_base_/promptsrc_runtime.py',
]

# The loss settings are PromptSRCHead's defaults, spelled out so that
# --cfg-options can change them (e.g. model.head.loss_image.loss_weight=0).
model = dict(
    type='VLPromptClassifier',
    head=dict(
        type='PromptSRCHead',
        prompt_learner=dict(
            _delete_=True,
            type='IVLPPromptLearner',
            n_ctx=4,
            n_vision_ctx=4,
            depth=4),
        knowledge_prompts=dict(
            type='HandcraftedPrompts', templates='promptsrc60', average='raw'),
        loss_text=dict(type='L1DistanceLoss', loss_weight=25.0),
        loss_image=dict(type='L1DistanceLoss', loss_weight=10.0),
        loss_kl=dict(
            type='KLDivergenceLoss',
            loss_weight=1.0,
            reduction='elementwise_mean')))
train_dataloader = dict(batch_size=4)
