# ProGrad (prograd_vitb16.py) on mmprompt's pretrained tiny CLIP
# (tinyclip_tower.py).
_base_ = ['./prograd_vitb16.py', './tinyclip_tower.py']

model = dict(
    backbone={{_base_.tower}}, head=dict(text_encoder={{_base_.tower}}))
