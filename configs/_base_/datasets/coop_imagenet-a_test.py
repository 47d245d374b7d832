# ImageNet-A (its 200 classes), test only: a domain-generalisation target
# of prompts trained on ImageNet (see coop_imagenetv2_test.py).
_base_ = ['./coop_imagenetv2_test.py']

test_dataloader = dict(
    dataset=dict(type='CoOpImageNetA', data_root='data/imagenet-adversarial'))
