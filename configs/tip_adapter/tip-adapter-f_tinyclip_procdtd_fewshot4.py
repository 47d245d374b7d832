# Tip-Adapter-F in the offline world's few-shot protocol: the tiny CLIP and
# the procedural mini-DTD, 4 shots of each of the 29 classes. Cache as in
# tip-adapter_tinyclip_procdtd_fewshot4.py; the keys train 20 epochs (AdamW
# lr 1e-3, eps 1e-4, cosine per iteration, batch 256: one step per epoch) on
# one augmented view of every image per epoch, served from the feature store
# (train_views='exact'); then alpha / beta are searched on val with the
# official DTD settings. The last epoch is kept (no selection on test).
#   python tools/train.py \
#       configs/tip_adapter/tip-adapter-f_tinyclip_procdtd_fewshot4.py
_base_ = [
    '../_base_/models/tip-adapter-f_vitb16.py',
    '../_base_/models/tinyclip_tower.py',
    '../_base_/datasets/coop_procdtd_fewshot4.py',
    '../_base_/schedules/tip-adapter-f_adamw_cosine.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone={{_base_.tower}},
    head=dict(
        text_encoder={{_base_.tower}},
        alpha=2.0,
        beta=1.0,
        # The CLIP logits' scale: the tiny CLIP's own temperature (18.9); the
        # official 100 is OpenAI CLIP's.
        logit_scale=None))
train_dataloader = dict(batch_size=256)
default_hooks = dict(
    checkpoint=dict(interval=20),
    feature_store=dict(train_views='exact'),
    tip_adapter=dict(
        type='TipAdapterHook',
        augment_epoch=10,
        search_scale=(13, 13),
        search_step=(200, 20)))
