# Tip-Adapter-F's optimisation (official main.py): AdamW over the cache keys,
# lr 1e-3, eps 1e-4 (weight decay: torch's AdamW default, 0.01), cosine
# annealing to 0 stepped every iteration over max_epochs * iterations per
# epoch, 20 epochs (EuroSAT 100). Leaves set batch 256 and the training views
# from the feature store. The cosine's `end` (and so T_max) follows
# train_cfg.max_epochs, which the Runner sets as `end` of a scheduler that has
# none, so a leaf with other epochs sets only
#   train_cfg = dict(max_epochs=100, val_interval=100)
lr = 0.001
max_epochs = 20

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=lr, eps=1e-4, weight_decay=0.01))

param_scheduler = [
    dict(
        type='CosineAnnealingLR',
        eta_min=0.,
        by_epoch=True,
        begin=0,
        convert_to_iter_based=True),
]

# One validation, after training: TipAdapterHook has searched alpha / beta
# at the end of the last epoch (the official code picks the best epoch on
# the test set; mmprompt keeps the last one).
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
