# DAPT on CLIP ViT-B/16: 16 text context vectors (N(0, 0.02^2)) and 16 visual
# prompt tokens after the CLS token (VPT-shallow, uniform init); CE + beta_v *
# L_intra (to class prototypes) + beta_t * L_inter. The betas (and the lr) are
# per dataset: see configs/dapt/README.md. The prototypes come from
# ClassPrototypeHook (default_hooks.class_prototypes of dapt_runtime.py).
_base_ = ['./clip_vitb16.py']

model = dict(
    type='VLPromptClassifier',
    head=dict(
        type='DAPTHead',
        prompt_learner=dict(
            _delete_=True,
            type='DAPTPromptLearner',
            n_ctx=16,
            ctx_init=None,
            n_vision_ctx=16),
        loss_intra=dict(type='DAPTIntraLoss', loss_weight=10.0),
        loss_inter=dict(type='DAPTInterLoss', loss_weight=0.01)))
