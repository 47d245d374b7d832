#!/usr/bin/env bash
# Launch tools/train.py on a Slurm cluster with srun.
#
# Usage: bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [options]
# Env: GPUS (8, total tasks), GPUS_PER_NODE (8), CPUS_PER_TASK (5),
#      SRUN_ARGS (extra srun arguments), PYTHON (python).

if [ $# -lt 4 ]; then
    echo "usage: bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG" \
        "WORK_DIR [train.py options]" >&2
    echo "error: PARTITION, JOB_NAME, CONFIG and WORK_DIR are required," \
        "e.g. GPUS=8 bash tools/slurm_train.sh gpu coop" \
        "configs/coop/coop_vitb16_dtd.py work_dirs/coop_dtd" >&2
    exit 2
fi

set -x

PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
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
    "$PYTHON" -u "$(dirname "$0")/train.py" "$CONFIG" \
    --work-dir="$WORK_DIR" --launcher=slurm "${@:5}"
