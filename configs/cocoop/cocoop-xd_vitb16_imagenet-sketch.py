# Domain generalisation target: CoCoOp trained on ImageNet
# (cocoop-xd_vitb16_imagenet.py) tested on imagenet-sketch.
_base_ = [
    '../_base_/models/cocoop_vitb16.py',
    '../_base_/datasets/coop_imagenet-sketch_test.py',
    '../_base_/default_runtime.py',
]

test_cfg = dict()
