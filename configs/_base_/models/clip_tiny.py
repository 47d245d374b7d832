# Zero-shot CLIP (clip_vitb16.py) on mmprompt's tiny open_clip config
# (tiny_tower.py: 32x32 images, random weights).
_base_ = ['./clip_vitb16.py', './tiny_tower.py']

model = dict(
    backbone={{_base_.tower}}, head=dict(text_encoder={{_base_.tower}}))
