# MaPLe (maple_vitb16.py) on mmprompt's pretrained tiny CLIP
# (tinyclip_tower.py): its towers have 4 blocks, so prompt depth 3 instead of
# ViT-B/16's 9.
_base_ = ['./maple_vitb16.py', './tinyclip_tower.py']

model = dict(
    backbone={{_base_.tower}},
    head=dict(text_encoder={{_base_.tower}}, prompt_learner=dict(depth=3)))
