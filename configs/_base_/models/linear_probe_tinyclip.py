# linear_probe_rn50.py on mmprompt's pretrained tiny CLIP (128-d features).
_base_ = ['./linear_probe_rn50.py']

model = dict(
    backbone=dict(
        model_name='mmprompt-tinyclip',
        pretrained='procdtd',
        model_kwargs=None),
    head=dict(in_channels=128))
