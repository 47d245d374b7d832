# Zero-shot CLIP ResNet-50 (OpenAI weights through open_clip): the image
# tower's attention-pool output (1024-d) meets the text features.
_base_ = ['./clip_vitb16.py']

model = dict(
    backbone=dict(model_name='RN50'),
    head=dict(text_encoder=dict(model_name='RN50')))
