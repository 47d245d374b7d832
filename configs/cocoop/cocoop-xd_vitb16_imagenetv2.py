# Domain generalisation target: CoCoOp trained on ImageNet
# (cocoop-xd_vitb16_imagenet.py) tested on imagenetv2.
_base_ = [
    '../_base_/models/cocoop_vitb16.py',
    '../_base_/datasets/coop_imagenetv2_test.py',
    '../_base_/default_runtime.py',
]

test_cfg = dict()
