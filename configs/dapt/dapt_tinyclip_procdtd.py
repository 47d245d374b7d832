# DAPT on the procedural mini-DTD with mmprompt's pretrained tiny CLIP:
# base-to-new, 16 shots of the base classes, DAPT's DTD settings (lr 20, beta_v
# 100, beta_t 0.01, batch 32, 16 random text context vectors) with the tiny
# world's 50 epochs (as coop_tinyclip_procdtd.py) and 4 visual prompt tokens
# instead of 16: the tiny ViT has 1 + 64 tokens, and 16 prompts (a quarter of
# the sequence, against 16 of 197 in ViT-B/16) keep base accuracy below
# zero-shot after training (see configs/dapt/README.md).
_base_ = [
    '../_base_/models/dapt_tinyclip.py',
    '../_base_/datasets/coop_procdtd_base2new.py',
    '../_base_/schedules/coop_sgd_cosine_50e.py',
    '../_base_/dapt_runtime.py',
]

optim_wrapper = dict(optimizer=dict(lr=20.0))
model = dict(head=dict(loss_intra=dict(loss_weight=100.0)))
default_hooks = dict(checkpoint=dict(interval=25))
