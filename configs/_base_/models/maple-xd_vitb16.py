# MaPLe for cross-dataset transfer and domain generalisation (official config):
# prompt depth 3 instead of 9.
_base_ = ['./maple_vitb16.py']

model = dict(head=dict(prompt_learner=dict(depth=3)))
