# RPO on the procedural mini-DTD with mmprompt's pretrained tiny CLIP:
# base-to-new, 16 shots of the base classes, RPO's schedule (K = 24 read-only
# prompt pairs, batch 4, SGD lr 0.01, 15 epochs, 1 warm-up epoch then cosine),
# with the dataset's template '{} texture.' as the class text (the tiny CLIP's
# vocabulary, see rpo_tinyclip.py).
_base_ = [
    '../_base_/models/rpo_tinyclip.py',
    '../_base_/datasets/coop_procdtd_base2new.py',
    '../_base_/schedules/rpo_sgd_cosine.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=4)
default_hooks = dict(checkpoint=dict(interval=15))  # the last epoch
