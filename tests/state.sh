#!/bin/bash
# The lab's state features in a real terminal (tmux, a private socket): S in the stack view fits
# a mamba stack to the paper's 4096-float budget (form, confirm with before and after, applied).
: "${MADLAB:=./madlab}"
command -v tmux >/dev/null 2>&1 || { echo "tmux not installed: skipped"; exit 77; }
MADLAB=$(cd "$(dirname "$MADLAB")" && pwd)/$(basename "$MADLAB")
tmp=$(mktemp -d)
S=madlab-statetest-$$
T="tmux -L $S -f /dev/null"
cleanup() { $T kill-server 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "---- screen ----"; cap; exit 1; }
cap() { $T capture-pane -p -t "$S" 2>/dev/null; }
keys() { $T send-keys -t "$S" "$@"; }
wait_for() {
    local i
    for ((i = 0; i < ${2:-10} * 10; i++)); do
        cap | grep -Eq -- "$1" && return 0
        sleep 0.1
    done
    return 1
}

mkdir -p "$tmp/config"
$T new-session -d -s "$S" -x 120 -y 40 \
    "cd '$tmp' && XDG_CONFIG_HOME='$tmp/config' LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color '$MADLAB' --threads 1; echo LAB-EXITED rc=\$?; sleep 30"
wait_for "Stack" 10 || fail "the lab did not start"

# a mamba stack from the striping form: mamba swiglu mamba swiglu
keys s; wait_for "striping" 3 || fail "no striping form"
keys C-u "mamba mamba" Down C-u 0 Down C-u swiglu Enter
wait_for "striped stack: mamba swiglu mamba swiglu" 3 || fail "stack not striped"

# S: the budget form (4096 by default), then the confirm with before and after
keys S; wait_for "fit the stack to a state budget" 3 || fail "no state budget form"
wait_for "state budget +4096" 3 || fail "the budget does not default to 4096"
keys Enter
wait_for "before: state 3584" 3 || fail "the confirm lacks the stack before"
wait_for "after: +state 4096" 3 || fail "the confirm lacks the stack after"
wait_for "mamba\(d_state=5\) swiglu mamba\(d_state=5\) swiglu" 3 || fail "the confirm lacks the fitted stack"
keys n; wait_for "cancelled" 3 || fail "n did not cancel"
cap | grep -q "d_state=5" && fail "a cancelled fit changed the stack"
keys S; wait_for "state budget +4096" 3 || fail "no state budget form the second time"
keys Enter; wait_for "apply\?" 3 || fail "no confirm the second time"
keys y; wait_for "state knobs set: total state 4096 floats" 3 || fail "the fit was not applied"
wait_for "mamba +.*d_state=5" 3 || fail "the stack view does not show the fitted knobs"
echo "ok: S fits the stack to 4096 floats after confirming"

# a stack whose state grows: the form stays open and says which layers
keys s; wait_for "striping" 3 || fail "no striping form"
keys C-u mh-attention Down C-u 1 Down C-u swiglu Enter
wait_for "striped stack: mh-attention swiglu" 3 || fail "stack not striped"
keys S; wait_for "state budget" 3 || fail "no state budget form"
keys Enter; wait_for "layer\(s\) 1 mh-attention grows" 3 || fail "no growing-state message"
keys Escape
echo "ok: a growing stack is refused, naming its layers"

keys q; wait_for "Quit|LAB-EXITED" 5
cap | grep -q "Quit" && keys y
wait_for "LAB-EXITED rc=0" 10 || fail "did not exit with 0"
echo "ok: quit"
