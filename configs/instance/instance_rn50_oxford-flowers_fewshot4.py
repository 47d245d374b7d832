# Instance-wise prompts on CLIP ResNet-50, OxfordFlowers, few-shot: 4 shots of
# each of the 102 classes (408 instance prompts), batch 32, SGD lr 2e-3,
# 100 epochs (CoOp's 4-shot schedule), 1 warm-up epoch then cosine; top-1
# over all classes with top-4 prompt averaging.
_base_ = [
    '../_base_/models/instance_rn50.py',
    '../_base_/datasets/coop_oxford-flowers_fewshot.py',
    '../_base_/schedules/coop_sgd_cosine_100e.py',
    '../_base_/default_runtime.py',
]

num_shots = 4
model = dict(
    head=dict(prompt_learner=dict(num_classes=102, num_shots=num_shots)))
train_dataloader = dict(dataset=dict(num_shots=num_shots))
val_dataloader = dict(dataset=dict(num_shots=num_shots))
