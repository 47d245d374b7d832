# dapt_vitb16_imagenet_16shot.py with 4 shots per class and 50 epochs.
_base_ = ['./dapt_vitb16_imagenet_16shot.py']

num_shots = 4
max_epochs = 50
train_dataloader = dict(dataset=dict(num_shots=num_shots))
train_cfg = dict(max_epochs=max_epochs)
