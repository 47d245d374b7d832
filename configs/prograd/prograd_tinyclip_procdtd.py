# ProGrad on the procedural mini-DTD with mmprompt's pretrained tiny CLIP:
# prograd_vitb16.py's model (CoOp's 4 context vectors from "a photo of a",
# the CE gradient projected off the gradient of the KL to the zero-shot
# predictions of the dataset's hand-crafted prompt '{} texture.', T = 1,
# lambda = 1) with coop_tinyclip_procdtd.py's data and schedule (base-to-new,
# 16 shots of the base classes, batch 32, 50 epochs). Only the update differs
# from the CoOp config, so the two compare directly.
_base_ = [
    '../_base_/models/prograd_tinyclip.py',
    '../_base_/datasets/coop_procdtd_base2new.py',
    '../_base_/schedules/coop_sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
]

optim_wrapper = dict(type='ProGradOptimWrapper', lambda_=1.0)
default_hooks = dict(checkpoint=dict(interval=25))
