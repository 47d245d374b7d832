# IVLP on the procedural mini-DTD with the tiny CLIP: 2 text + 2 visual prompt
# tokens in all 4 blocks of both towers, MaPLe's schedule (see
# maple_tinyclip_procdtd.py).
_base_ = [
    '../_base_/models/ivlp_tinyclip.py',
    '../_base_/datasets/coop_procdtd_base2new.py',
    '../_base_/schedules/maple_sgd_cosine.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=4)
default_hooks = dict(checkpoint=dict(interval=5))  # the last epoch
