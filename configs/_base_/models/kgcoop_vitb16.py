# KgCoOp on CLIP ViT-B/16: CoOp's 4 context vectors from "a photo of a",
# trained with CE + 8 * (1 - mean cos) to the frozen CLIP text features of
# the dataset's hand-crafted prompt.
_base_ = ['./coop_vitb16.py']

model = dict(
    head=dict(
        type='KgCoOpHead',
        knowledge_prompts=dict(type='HandcraftedPrompts', templates='dataset'),
        loss_kg=dict(type='CosineDistanceLoss', loss_weight=8.0)))
