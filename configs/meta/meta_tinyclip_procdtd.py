# Meta-training of prompts in the offline world: mmprompt's pretrained tiny
# CLIP on the procedural mini-DTD, base-to-new (15 base / 14 new classes),
# 16 shots. The paper's episodes (4 tasks x 5 ways x (2 support + 14 query),
# 10 iterations per epoch) and optimisation, but 50 epochs (CoOp gets 50
# too in coop_tinyclip_procdtd.py).
_base_ = [
    '../_base_/models/meta_tinyclip.py',
    '../_base_/datasets/coop_procdtd_base2new.py',
    '../_base_/schedules/coop_sgd_cosine_50e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(
    batch_size=4,
    batch_sampler=dict(
        type='EpisodicBatchSampler',
        num_ways=5,
        num_support=2,
        num_query=None,
        iters_per_epoch=10))

default_hooks = dict(checkpoint=dict(interval=25))
custom_hooks = [dict(type='MetaGapMonitorHook', interval=5)]
