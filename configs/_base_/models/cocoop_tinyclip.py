# CoCoOp (cocoop_vitb16.py) on mmprompt's pretrained tiny CLIP
# (tinyclip_tower.py): its meta-net is Linear(128, 8) -> ReLU ->
# Linear(8, 128).
_base_ = ['./cocoop_vitb16.py', './tinyclip_tower.py']

model = dict(
    backbone={{_base_.tower}}, head=dict(text_encoder={{_base_.tower}}))
