# KgCoOp (4 context vectors from "a photo of a", lambda 8) on StanfordCars,
# base-to-new: 16 shots of the base classes, batch 128, SGD lr 2e-3, 100
# epochs, cosine + warm-up.
_base_ = [
    '../_base_/models/kgcoop_vitb16.py',
    '../_base_/datasets/coop_stanford-cars_base2new.py',
    '../_base_/schedules/coop_sgd_cosine_100e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=128)
