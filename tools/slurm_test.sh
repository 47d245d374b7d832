#!/usr/bin/env bash
# Launch tools/test.py on a Slurm cluster with srun.
#
# Usage: bash tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [opts]
# Env: GPUS (8, total tasks), GPUS_PER_NODE (8), CPUS_PER_TASK (5),
#      SRUN_ARGS (extra srun arguments), PYTHON (python).

set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
CHECKPOINT=$4
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
CPUS_PER_TASK=${CPUS_PER_TASK:-5}
SRUN_ARGS=${SRUN_ARGS:-""}
PYTHON=${PYTHON:-python}

# SRUN_ARGS is split into words on purpose.
PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
srun -p "$PARTITION" \
    --job-name="$JOB_NAME" \
    --gres=gpu:"$GPUS_PER_NODE" \
    --ntasks="$GPUS" \
    --ntasks-per-node="$GPUS_PER_NODE" \
    --cpus-per-task="$CPUS_PER_TASK" \
    --kill-on-bad-exit=1 \
    $SRUN_ARGS \
    "$PYTHON" -u "$(dirname "$0")/test.py" "$CONFIG" "$CHECKPOINT" \
    --launcher=slurm "${@:5}"
