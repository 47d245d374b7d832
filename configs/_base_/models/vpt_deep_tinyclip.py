# VPT-deep (vpt_deep_vitb16.py) on mmprompt's pretrained tiny CLIP
# (tinyclip_tower.py): visual prompts in all 4 blocks (depth 4 instead of 12).
_base_ = ['./vpt_deep_vitb16.py', './tinyclip_tower.py']

model = dict(
    backbone={{_base_.tower}},
    head=dict(text_encoder={{_base_.tower}}, prompt_learner=dict(depth=4)))
