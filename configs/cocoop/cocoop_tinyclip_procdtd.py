# CoCoOp on the procedural mini-DTD with mmprompt's pretrained tiny CLIP:
# base-to-new, 16 shots of the base classes, 4 context vectors from "a photo
# of a" shifted per image by a meta-net Linear(128, 8) -> ReLU ->
# Linear(8, 128); CoCoOp's schedule (batch 1, SGD lr 2e-3, 10 epochs, 1
# warm-up epoch then cosine).
_base_ = [
    '../_base_/models/cocoop_tinyclip.py',
    '../_base_/datasets/coop_procdtd_base2new.py',
    '../_base_/schedules/cocoop_sgd_cosine.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=1)
