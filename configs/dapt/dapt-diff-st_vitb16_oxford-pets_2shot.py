# dapt_vitb16_oxford-pets_2shot.py with the diff_st initialisation of the text
# context: CLIP's EOS token embedding + a noise draw per token (scale 0.1).
_base_ = ['./dapt_vitb16_oxford-pets_2shot.py']

model = dict(
    head=dict(
        prompt_learner=dict(
            ctx_init=dict(
                _delete_=True,
                type='DiffSTPromptInit',
                scale=0.1,
                noise='unit'))))
