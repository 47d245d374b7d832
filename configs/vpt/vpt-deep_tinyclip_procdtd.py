# VPT-deep on the procedural mini-DTD with the tiny CLIP: 8 visual prompt
# tokens in all 4 blocks, fixed text "a photo of a {class}.", lr 0.0025,
# otherwise MaPLe's schedule (see maple_tinyclip_procdtd.py).
_base_ = [
    '../_base_/models/vpt_deep_tinyclip.py',
    '../_base_/datasets/coop_procdtd_base2new.py',
    '../_base_/schedules/maple_sgd_cosine.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=4)
optim_wrapper = dict(optimizer=dict(lr=0.0025))
default_hooks = dict(checkpoint=dict(interval=5))  # the last epoch
