# dapt_vitb16_sun397_16shot.py with 2 shots per class and 100 epochs.
_base_ = ['./dapt_vitb16_sun397_16shot.py']

num_shots = 2
max_epochs = 100
train_dataloader = dict(dataset=dict(num_shots=num_shots))
val_dataloader = dict(dataset=dict(num_shots=num_shots))
train_cfg = dict(max_epochs=max_epochs)
