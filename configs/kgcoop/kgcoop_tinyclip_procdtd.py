# KgCoOp on the procedural mini-DTD with mmprompt's pretrained tiny CLIP:
# coop_tinyclip_procdtd.py (base-to-new, 16 shots of the base classes, 4
# context vectors from "a photo of a", batch 32, 50 epochs) plus KgCoOp's
# loss towards the dataset's hand-crafted prompt '{} texture.', lambda 8.
# Only the loss differs from the CoOp config, so the two compare directly.
_base_ = ['../coop/coop_tinyclip_procdtd.py']

# KgCoOpHead's defaults: the dataset's template, CosineDistanceLoss weight 8.
model = dict(head=dict(type='KgCoOpHead'))
