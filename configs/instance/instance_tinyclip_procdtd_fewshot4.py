# Instance-wise prompts in the offline world: mmprompt's pretrained tiny CLIP
# on the procedural mini-DTD, 4 shots of each of the 29 classes (116
# instance prompts), the RN50 configs' settings (instance_rn50.py: 16 global +
# 4 instance ctx; batch 32, SGD lr 2e-3, 100 epochs); top-1 over all classes.
# Compare with
#   python tools/run_protocol.py \
#       configs/zeroshot/clip_tinyclip_procdtd_fewshot.py \
#       configs/linear_probe/lp_tinyclip_procdtd_fewshot4.py \
#       configs/coop/coop_tinyclip_procdtd_fewshot4.py \
#       configs/instance/instance_tinyclip_procdtd_fewshot4.py --seeds 1 2 3
_base_ = [
    '../_base_/models/instance_rn50.py',
    '../_base_/models/tinyclip_tower.py',
    '../_base_/datasets/coop_procdtd_fewshot4.py',
    '../_base_/schedules/coop_sgd_cosine_100e.py',
    '../_base_/default_runtime.py',
]

model = dict(
    backbone={{_base_.tower}},
    head=dict(
        text_encoder={{_base_.tower}},
        prompt_learner=dict(num_classes=29, num_shots=4)))
default_hooks = dict(checkpoint=dict(interval=100))
