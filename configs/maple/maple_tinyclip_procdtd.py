# MaPLe on the procedural mini-DTD with mmprompt's pretrained tiny CLIP (4
# blocks per tower, so depth 3 instead of ViT-B/16's 9): base-to-new, 16 shots
# of the base classes, MaPLe's schedule (batch 4, SGD lr 0.0035, 5 epochs, 1
# warm-up epoch then cosine).
_base_ = [
    '../_base_/models/maple_tinyclip.py',
    '../_base_/datasets/coop_procdtd_base2new.py',
    '../_base_/schedules/maple_sgd_cosine.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=4)
default_hooks = dict(checkpoint=dict(interval=5))  # the last epoch
