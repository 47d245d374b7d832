# CoOp (4 context vectors from "a photo of a") on UCF101, base-to-new: 16 shots
# of the base classes, batch 32, SGD lr 2e-3, cosine + warm-up.
_base_ = [
    '../_base_/models/coop_vitb16.py',
    '../_base_/datasets/coop_ucf101_base2new.py',
    '../_base_/schedules/coop_sgd_cosine.py',
    '../_base_/default_runtime.py',
]
