# LFA (lfa_vitb16.py) on CLIP ResNet-50: W is 1024 x 1024.
_base_ = ['./lfa_vitb16.py']

model = dict(
    backbone=dict(model_name='RN50'),
    head=dict(text_encoder=dict(model_name='RN50')))
