# PromptSRC (promptsrc_vitb16.py) on mmprompt's pretrained tiny CLIP
# (tinyclip_tower.py): prompts in all 4 blocks of both towers (depth 9 needs
# ViT-B/16's 12 blocks).
_base_ = ['./promptsrc_vitb16.py', './tinyclip_tower.py']

model = dict(
    backbone={{_base_.tower}},
    head=dict(text_encoder={{_base_.tower}}, prompt_learner=dict(depth=4)))
