# MaPLe (2 ctx from "a photo", depth 9, coupled) on DTD, base-to-new: 16 shots
# of the base classes, batch 4, SGD lr 0.0035, 5 epochs, 1 warm-up epoch then
# cosine.
_base_ = [
    '../_base_/models/maple_vitb16.py',
    '../_base_/datasets/coop_dtd_base2new.py',
    '../_base_/schedules/maple_sgd_cosine.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=4)
