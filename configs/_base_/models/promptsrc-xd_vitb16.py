# PromptSRC for cross-dataset transfer and domain generalisation (official
# vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets): prompt depth 3 in both towers
# instead of 9; the losses and their weights are the base-to-new ones.
_base_ = ['./promptsrc_vitb16.py']

model = dict(head=dict(prompt_learner=dict(depth=3)))
