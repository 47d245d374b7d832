# Offline demo: CoOp on the tiny random-weight CLIP and the synthetic dataset
# (base-to-new, 16 shots of the 5 base classes). Minutes on a 2-core CPU.
_base_ = [
    '../_base_/models/coop_tiny.py',
    '../_base_/datasets/coop_synthetic_base2new.py',
    '../_base_/schedules/coop_sgd_cosine.py',
    '../_base_/default_runtime.py',
]

max_epochs = 20
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=10))
