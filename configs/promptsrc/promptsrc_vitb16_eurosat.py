# PromptSRC (IVLP 4 + 4 tokens, depth 9, self-regulating losses, Gaussian
# prompt aggregation) on EuroSAT, base-to-new: 16 shots of the base classes,
# batch 4, SGD lr 0.0025, 20 epochs, 1 warm-up epoch then cosine.
_base_ = [
    '../_base_/models/promptsrc_vitb16.py',
    '../_base_/datasets/coop_eurosat_base2new.py',
    '../_base_/schedules/promptsrc_sgd_cosine.py',
    '../_base_/promptsrc_runtime.py',
]

train_dataloader = dict(batch_size=4)
