# CoOp (4 context vectors from "a photo of a") on ImageNet, base-to-new: 16
# shots of the base classes, batch 32, SGD lr 2e-3, cosine + warm-up.
_base_ = [
    '../_base_/models/coop_vitb16.py',
    '../_base_/datasets/coop_imagenet_base2new.py',
    '../_base_/schedules/coop_sgd_cosine_imagenet.py',
    '../_base_/default_runtime.py',
]
