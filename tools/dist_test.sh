#!/usr/bin/env bash
# Launch tools/test.py on GPUS processes per node with torchrun.
#
# Usage: bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py options]
#        (CHECKPOINT '' tests the model as the config builds it: zero-shot)
# Env: NNODES (1), NODE_RANK (0), PORT (29500), MASTER_ADDR (127.0.0.1),
#      PYTHON (python). Works on CPU-only machines too (gloo backend).
# Exits with status 2 and one "error: ..." line for a wrong call (no GPUS)
# or a PORT another program listens on, before torchrun starts.

CONFIG=$1
CHECKPOINT=$2
GPUS=$3
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
PYTHON=${PYTHON:-python}

if [ $# -lt 3 ] || ! [[ "$GPUS" =~ ^[1-9][0-9]*$ ]]; then
    if [ $# -lt 3 ]; then WHAT="missing"; else
        WHAT="'$GPUS', not a positive number"; fi
    echo "usage: bash tools/dist_test.sh CONFIG CHECKPOINT GPUS" \
        "[test.py options]" >&2
    echo "error: GPUS, the number of processes per node (one per GPU; any" \
        "number on a CPU-only machine), is $WHAT. E.g." \
        "bash tools/dist_test.sh configs/coop/coop_tiny_synthetic.py" \
        "work_dirs/run/epoch_20.pth 2; without a checkpoint (zero-shot)," \
        "pass '' as CHECKPOINT: bash tools/dist_test.sh CONFIG '' 2" >&2
    exit 2
fi
if ! [[ "$PORT" =~ ^[0-9]+$ ]]; then
    echo "error: PORT must be a port number, got '$PORT'." \
        "E.g. PORT=29501 bash tools/dist_test.sh $CONFIG $CHECKPOINT $GPUS" >&2
    exit 2
fi
# The master node (NODE_RANK 0) serves the rendezvous on PORT: check that no
# other program (another run?) listens there before torchrun starts.
if [ "$NODE_RANK" = "0" ] && ! "$PYTHON" -c "
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(('', int(sys.argv[1])))
except OSError:
    sys.exit(1)
" "$PORT" 2>/dev/null; then
    echo "error: port $PORT is already in use (another distributed run on" \
        "this machine?), so torchrun cannot serve its rendezvous there." \
        "Pick a free port: PORT=$((PORT + 1)) bash tools/dist_test.sh" \
        "$CONFIG $CHECKPOINT $GPUS ..." >&2
    exit 2
fi

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
"$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --master_port="$PORT" \
    --nproc_per_node="$GPUS" \
    "$(dirname "$0")/test.py" \
    "$CONFIG" \
    ${CHECKPOINT:+"$CHECKPOINT"} \
    --launcher pytorch "${@:4}"
