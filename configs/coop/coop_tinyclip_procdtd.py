# CoOp on the procedural mini-DTD with mmprompt's pretrained tiny CLIP:
# base-to-new, 16 shots of the base classes, 4 context vectors from
# "a photo of a", batch 32, SGD, 1 warm-up epoch then cosine, 50 epochs. A
# minute or so on a 2-core CPU.
_base_ = [
    '../_base_/models/coop_tinyclip.py',
    '../_base_/datasets/coop_procdtd_base2new.py',
    '../_base_/schedules/coop_sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
]

default_hooks = dict(checkpoint=dict(interval=25))
