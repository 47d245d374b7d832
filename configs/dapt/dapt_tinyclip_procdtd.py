# DAPT on the procedural mini-DTD with mmprompt's pretrained tiny CLIP:
# base-to-new, 16 shots of the base classes, DAPT's DTD settings (lr 20, beta_v
# 100, beta_t 0.01, batch 32, 16 random text context vectors) with the tiny
# world's 50 epochs (as coop_tinyclip_procdtd.py) and 4 visual prompt tokens
# instead of 16: the tiny ViT has 1 + 64 tokens, and 16 prompts (a quarter of
# the sequence, against 16 of 197 in ViT-B/16) keep base accuracy below
# zero-shot after training (see configs/dapt/README.md).
_base_ = ['../coop/coop_tinyclip_procdtd.py']

model = dict(
    type='VLPromptClassifier',
    head=dict(
        type='DAPTHead',
        prompt_learner=dict(
            _delete_=True,
            type='DAPTPromptLearner',
            n_ctx=16,
            ctx_init=None,
            n_vision_ctx=4),
        loss_intra=dict(type='DAPTIntraLoss', loss_weight=100.0),
        loss_inter=dict(type='DAPTInterLoss', loss_weight=0.01)))
optim_wrapper = dict(optimizer=dict(lr=20.0))
custom_hooks = [
    dict(type='SetClassNamesHook'),
    dict(type='EpochSeedHook'),
    dict(type='ClassPrototypeHook'),
]
