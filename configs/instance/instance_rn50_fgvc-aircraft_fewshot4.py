# Instance-wise prompts on CLIP ResNet-50, FGVCAircraft, few-shot: 4 shots of
# each of the 100 classes (400 instance prompts), batch 32, SGD lr 2e-3,
# 100 epochs (CoOp's 4-shot schedule), 1 warm-up epoch then cosine; top-1
# over all classes with top-4 prompt averaging.
_base_ = [
    '../_base_/models/instance_rn50.py',
    '../_base_/datasets/coop_fgvc-aircraft_fewshot.py',
    '../_base_/schedules/coop_sgd_cosine_100e.py',
    '../_base_/default_runtime.py',
]

num_shots = 4
model = dict(
    head=dict(prompt_learner=dict(num_classes=100, num_shots=num_shots)))
train_dataloader = dict(dataset=dict(num_shots=num_shots))
val_dataloader = dict(dataset=dict(num_shots=num_shots))
