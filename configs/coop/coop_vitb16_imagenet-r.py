# Test CoOp prompts trained on ImageNet (coop_vitb16_imagenet_fewshot.py) on
# ImageNet-R: python tools/test.py THIS_CONFIG work_dirs/.../epoch_50.pth
_base_ = [
    '../_base_/models/coop_vitb16.py',
    '../_base_/datasets/coop_imagenet-r_test.py',
    '../_base_/default_runtime.py',
]

test_cfg = dict()
