# The meta-trained prompts of "Prompt Tuning for Vision-Language Models via
# Meta-Training" on CLIP ViT-B/16: CoOp's 4 context vectors from
# "a photo of a", a cross-attention + MLP fusion that turns class texts and
# support images into multimodal prototypes (training only), and
# L = CE(P_mm) + 0.2 * KL(P_mm || P_text). Inference uses the text alone;
# test with --cfg-options model.head.fusion=None to leave the fusion's
# 1.58 M parameters out of memory (checkpoints with the fusion still load).
_base_ = ['./coop_vitb16.py']

model = dict(
    head=dict(
        type='MetaPromptClsHead',
        fusion=dict(
            type='CrossAttentionFusion',
            num_heads=8,
            keys='class',  # the class's own support images; or 'task'
            mlp_ratio=1.0,
            attn_residual=True,
            mlp_residual=True,
            normalize_inputs=True),
        kl_loss=dict(type='KLDivergenceLoss', loss_weight=0.2),
        kl_direction='mm_text',  # KL(P_mm || P_text); or 'text_mm'
        detach_mm=False))
