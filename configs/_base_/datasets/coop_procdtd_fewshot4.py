# The procedural mini-DTD, few-shot protocol (coop_procdtd_fewshot.py) with 4
# shots of every class for training and validation: the offline world's
# instance-wise prompt table (configs/instance/README.md).
_base_ = ['./coop_procdtd_fewshot.py']

num_shots = 4
train_dataloader = dict(dataset=dict(num_shots=num_shots))
val_dataloader = dict(dataset=dict(num_shots=num_shots))
