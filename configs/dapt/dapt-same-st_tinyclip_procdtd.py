# dapt_tinyclip_procdtd.py with the same-ST initialisation of the 16 text
# context tokens: CLIP's EOS embedding + one shared noise draw (scale 0.1).
_base_ = ['./dapt_tinyclip_procdtd.py']

model = dict(
    head=dict(
        prompt_learner=dict(
            ctx_init=dict(
                type='SameSTPromptInit',
                _delete_=True,  # DAPT's is None (random)
                scale=0.1,
                noise='unit'))))
