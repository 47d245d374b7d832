# LFA's fit (saic-fi/LFA feature_alignment.py), run by LFALoop on the stored
# frozen features of the training images: beta-Procrustes with beta searched
# on 3 random 80/20 splits over 25 values in [0, 1], then n_iters AdamW steps
# (lr 5e-4, weight decay 5e-4, cosine to 1e-7) of the adaptive re-ranking
# loss on 75 % of the features per step, with feature noise (0.035) and
# dropout (0.05) each applied with probability 1/2. LFA's step counts are per
# dataset (its README): a leaf sets train_cfg.n_iters.
# Leaves feed the training images, every one once, through the test
# transform:
#   train_dataloader = dict(
#       sampler=dict(shuffle=False),
#       dataset=dict(pipeline={{_base_.test_pipeline}}))
train_cfg = dict(
    type='LFALoop',
    n_iters=200,
    beta=None,
    lr=5e-4,
    weight_decay=5e-4,
    end_lr=1e-7,
    batch_fraction=0.75,
    gaussian_noise=0.035,
    dropout=0.05)
val_cfg = dict()
test_cfg = dict()
# Required by the Runner next to train_cfg but never stepped: LFALoop runs
# its own AdamW on W.
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.))
