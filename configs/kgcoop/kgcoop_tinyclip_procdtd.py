# KgCoOp on the procedural mini-DTD with mmprompt's pretrained tiny CLIP:
# coop_tinyclip_procdtd.py (base-to-new, 16 shots of the base classes, 4
# context vectors from "a photo of a", batch 32, 50 epochs) plus KgCoOp's
# loss towards the dataset's hand-crafted prompt '{} texture.', lambda 8.
# Only the loss differs from the CoOp config, so the two compare directly.
_base_ = ['../coop/coop_tinyclip_procdtd.py']

# Spelled out (they are KgCoOpHead's defaults) so that --cfg-options can
# change them, e.g. model.head.loss_kg.loss_weight=1.
model = dict(
    head=dict(
        type='KgCoOpHead',
        knowledge_prompts=dict(type='HandcraftedPrompts', templates='dataset'),
        loss_kg=dict(type='CosineDistanceLoss', loss_weight=8.0)))
