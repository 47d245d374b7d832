# Zero-shot CLIP (clip_vitb16.py) on mmprompt's pretrained tiny CLIP
# (tinyclip_tower.py: 64x64 images, 128-d embeddings).
_base_ = ['./clip_vitb16.py', './tinyclip_tower.py']

model = dict(
    backbone={{_base_.tower}}, head=dict(text_encoder={{_base_.tower}}))
