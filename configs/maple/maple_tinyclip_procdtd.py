# MaPLe on the procedural mini-DTD with mmprompt's pretrained tiny CLIP (4
# blocks per tower, so depth 3 instead of ViT-B/16's 9): base-to-new, 16 shots
# of the base classes, MaPLe's schedule (batch 4, SGD lr 0.0035, 5 epochs, 1
# warm-up epoch then cosine).
_base_ = ['../coop/coop_tinyclip_procdtd.py']

model = dict(
    type='VLPromptClassifier',
    head=dict(
        prompt_learner=dict(
            _delete_=True, type='MaPLePromptLearner', n_ctx=2, depth=3)))

train_dataloader = dict(batch_size=4)
max_epochs = 5
optim_wrapper = dict(optimizer=dict(lr=0.0035))
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(checkpoint=dict(interval=max_epochs))
