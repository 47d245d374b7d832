# Instance-wise prompts in the offline world: mmprompt's pretrained tiny CLIP
# on the procedural mini-DTD, 4 shots of each of the 29 classes (116
# instance prompts), the RN50 configs' settings (16 global + 4 instance ctx,
# batch 32, SGD lr 2e-3, 100 epochs); top-1 over all classes. Compare with
#   python tools/run_protocol.py \
#       configs/zeroshot/clip_tinyclip_procdtd_fewshot.py \
#       configs/linear_probe/lp_tinyclip_procdtd_fewshot4.py \
#       configs/coop/coop_tinyclip_procdtd_fewshot4.py \
#       configs/instance/instance_tinyclip_procdtd_fewshot4.py --seeds 1 2 3
_base_ = [
    '../_base_/models/instance_tinyclip.py',
    '../_base_/datasets/coop_procdtd_fewshot.py',
    '../_base_/schedules/coop_sgd_cosine_100e.py',
    '../_base_/default_runtime.py',
]

num_shots = 4
model = dict(
    head=dict(prompt_learner=dict(num_classes=29, num_shots=num_shots)))
train_dataloader = dict(dataset=dict(num_shots=num_shots))
val_dataloader = dict(dataset=dict(num_shots=num_shots))
default_hooks = dict(checkpoint=dict(interval=100))
