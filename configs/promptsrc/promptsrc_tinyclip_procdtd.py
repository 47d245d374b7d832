# PromptSRC on the procedural mini-DTD with mmprompt's pretrained tiny CLIP:
# base-to-new, 16 shots of the base classes, PromptSRC's losses and schedule
# (batch 4, SGD lr 0.0025, 20 epochs, Gaussian aggregation N(15, 1)) with 4 + 4
# prompt tokens in all 4 blocks of the tiny towers (depth 9 needs ViT-B/16's
# 12 blocks). The loss settings (promptsrc_vitb16.py) are PromptSRCHead's
# defaults, spelled out so that --cfg-options can change them (e.g.
# model.head.loss_image.loss_weight=0).
_base_ = [
    '../_base_/models/promptsrc_tinyclip.py',
    '../_base_/datasets/coop_procdtd_base2new.py',
    '../_base_/schedules/promptsrc_sgd_cosine.py',
    '../_base_/promptsrc_runtime.py',
]

train_dataloader = dict(batch_size=4)
