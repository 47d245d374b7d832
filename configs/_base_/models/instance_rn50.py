# Instance-wise prompt learning on CLIP ResNet-50 (methods.md §2): every
# training image owns the prompt [16 global ctx][4 instance ctx][CLASS]. The
# global context is CoOp's few-shot RN50 context (16 vectors from
# N(0, 0.02^2)); the seed does not give the context lengths, so 16 + 4 is
# mmprompt's choice. Leaves set num_classes and num_shots (the instance
# prompts are sized by the training set: num_classes x num_shots).
_base_ = ['./clip_rn50.py']

model = dict(
    head=dict(
        type='InstancePromptHead',
        prompts_per_class=2,  # the training draw: 2 prompts of every class
        # CE over classes, a class's logit = cosine to the mean feature of
        # its 2 prompts (methods.md's choice; the seed does not say); or
        # 'max' / 'mean_sim', or 'prompt': CE over all 2C drawn prompts with
        # the image's own prompt as target.
        pair_reduce='mean',
        test_topk=4,  # test: mean of the 4 most similar prompts per class
        prompt_learner=dict(
            _delete_=True,
            type='InstancePromptLearner',
            num_classes=None,
            num_shots=None,
            n_ctx=16,
            ctx_init=None,
            n_instance_ctx=4)))
