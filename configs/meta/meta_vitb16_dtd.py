# Meta-training of prompts (the paper's setting) on DTD, base-to-new with 16
# shots of the 24 base classes: every iteration is a meta-batch of 4 tasks,
# each 5-way with 2 support and the other 14 shots as queries per class;
# 10 iterations per epoch, 100 epochs, SGD lr 2e-3 (momentum 0.9, wd 5e-4),
# 1 warm-up epoch at 1e-5 then cosine, lambda = 0.2. Testing is zero-shot
# with the learned prompts (base / new / H as for CoOp).
_base_ = [
    '../_base_/models/meta_vitb16.py',
    '../_base_/datasets/coop_dtd_base2new.py',
    '../_base_/schedules/coop_sgd_cosine.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(
    batch_size=4,  # tasks per meta-batch (per GPU)
    batch_sampler=dict(
        type='EpisodicBatchSampler',
        num_ways=5,
        num_support=2,
        num_query=None,  # the other 16 - 2 shots of each class
        iters_per_epoch=10))

max_epochs = 100
train_cfg = dict(max_epochs=max_epochs, val_interval=20)

# Fig. 4: base test accuracy with multimodal prototypes vs text only. (The
# SetClassNamesHook of default_runtime.py hands the episode layout over.)
custom_hooks = [dict(type='MetaGapMonitorHook', interval=10)]
