# IVLP on the procedural mini-DTD with the tiny CLIP: 2 text + 2 visual prompt
# tokens in all 4 blocks of both towers, MaPLe's schedule (see
# maple_tinyclip_procdtd.py).
_base_ = ['../maple/maple_tinyclip_procdtd.py']

model = dict(
    head=dict(
        prompt_learner=dict(
            _delete_=True,
            type='IVLPPromptLearner',
            n_ctx=2,
            n_vision_ctx=2,
            depth=4)))
