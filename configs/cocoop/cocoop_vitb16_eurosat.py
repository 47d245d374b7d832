# CoCoOp (4 context vectors from "a photo of a" + a per-image meta-net bias)
# on EuroSAT, base-to-new: 16 shots of the base classes, batch 1, SGD lr
# 2e-3, 10 epochs, 1 warm-up epoch then cosine.
_base_ = [
    '../_base_/models/cocoop_vitb16.py',
    '../_base_/datasets/coop_eurosat_base2new.py',
    '../_base_/schedules/cocoop_sgd_cosine.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=1)
