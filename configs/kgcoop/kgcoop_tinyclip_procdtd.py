# KgCoOp on the procedural mini-DTD with mmprompt's pretrained tiny CLIP:
# kgcoop_vitb16.py's model (CoOp's 4 context vectors from "a photo of a" plus
# KgCoOp's loss towards the dataset's hand-crafted prompt '{} texture.',
# lambda 8) with coop_tinyclip_procdtd.py's data and schedule (base-to-new, 16
# shots of the base classes, batch 32, 50 epochs). Only the loss differs from
# the CoOp config, so the two compare directly.
_base_ = [
    '../_base_/models/kgcoop_tinyclip.py',
    '../_base_/datasets/coop_procdtd_base2new.py',
    '../_base_/schedules/coop_sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
]

default_hooks = dict(checkpoint=dict(interval=25))
