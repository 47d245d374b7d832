# LFA in the offline world's few-shot protocol: lfa_vitb16.py on the tiny CLIP
# and the procedural mini-DTD, 4 shots of each of the 29 classes (a 128 x 128
# W), beta searched, 1000 refinement steps (LFA's DTD setting).
#   python tools/train.py configs/lfa/lfa_tinyclip_procdtd_fewshot4.py
_base_ = [
    '../_base_/models/lfa_vitb16.py',
    '../_base_/models/tinyclip_tower.py',
    '../_base_/datasets/coop_procdtd_fewshot4.py',
    '../_base_/schedules/lfa_procrustes_rerank.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone={{_base_.tower}}, head=dict(text_encoder={{_base_.tower}}))
train_cfg = dict(n_iters=1000)
train_dataloader = dict(
    sampler=dict(shuffle=False),
    dataset=dict(pipeline={{_base_.test_pipeline}}))
default_hooks = dict(checkpoint=dict(interval=1, save_param_scheduler=False))
