# Zero-shot CLIP ViT-B/16 on ImageNet-R (domain generalisation target).
_base_ = [
    '../_base_/models/clip_vitb16.py',
    '../_base_/datasets/coop_imagenet-r_test.py',
    '../_base_/default_runtime.py',
]

test_cfg = dict()
