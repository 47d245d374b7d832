# VPT-deep on the procedural mini-DTD with the tiny CLIP: 8 visual prompt
# tokens in all 4 blocks, fixed text "a photo of a {class}.", lr 0.0025,
# otherwise MaPLe's schedule.
_base_ = ['../maple/maple_tinyclip_procdtd.py']

model = dict(
    head=dict(
        prompt_learner=dict(
            _delete_=True,
            type='VPTDeepPromptLearner',
            n_vision_ctx=8,
            depth=4)))
optim_wrapper = dict(optimizer=dict(lr=0.0025))
