# CLIP-Adapter (clip-adapter_vitb16.py) on CLIP ResNet-50, the official code's
# backbone: the adapter is 1024 -> 256 -> 1024 (its width follows the
# embedding).
_base_ = ['./clip-adapter_vitb16.py']

model = dict(
    backbone=dict(model_name='RN50'),
    head=dict(text_encoder=dict(model_name='RN50')))
