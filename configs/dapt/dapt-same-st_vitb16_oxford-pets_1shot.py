# dapt_vitb16_oxford-pets_1shot.py with the same_st initialisation of the text
# context: CLIP's EOS token embedding + one shared noise draw (scale 0.1).
_base_ = ['./dapt_vitb16_oxford-pets_1shot.py']

model = dict(
    head=dict(
        prompt_learner=dict(
            ctx_init=dict(
                _delete_=True,
                type='SameSTPromptInit',
                scale=0.1,
                noise='unit'))))
