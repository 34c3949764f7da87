#!/bin/bash
# The lab's state features in a real terminal (tmux, a private socket): S in the stack view fits
# a mamba stack to the paper's 4096-float budget (form, confirm with before and after, applied);
# the recall-against-state view (5) plots three tiny runs, its cursor moves and names the stack,
# t/T change the task, c exports PREFIX-state.csv (asking before overwriting).
TEST_NAME=statetest
. "$(dirname "$0")/tmux-lib.sh"

mkdir -p "$tmp/config"
$T new-session -d -s "$S" -x 120 -y 40 \
    "cd '$tmp' && XDG_CONFIG_HOME='$tmp/config' XDG_DATA_HOME='$tmp/data' LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color '$MADLAB' --threads 1; echo LAB-EXITED rc=\$?; sleep 30"
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
keys S; wait_for "state budget +4096" 3 || fail "no state budget form the third time"
keys Enter; wait_for "already as near 4096 floats as its knobs go: state 4096" 3 ||
    fail "a stack already fitted is not said to be"
echo "ok: S fits the stack to 4096 floats after confirming"

# a stack whose state grows: the form stays open and says which layers
keys s; wait_for "striping" 3 || fail "no striping form"
keys C-u mh-attention Down C-u 1 Down C-u swiglu Enter
wait_for "striped stack: mh-attention swiglu" 3 || fail "stack not striped"
keys S; wait_for "state budget" 3 || fail "no state budget form"
keys Enter; wait_for "layer\(s\) 1 mh-attention grows" 3 || fail "no growing-state message"
keys Escape
echo "ok: a growing stack is refused, naming its layers"

# an enumerated knob in the knob form: shown and typed as a word, a wrong word named
keys s; wait_for "striping" 3 || fail "no striping form"
keys C-u mh-attention Down C-u 0 Down C-u moe-mlp Enter
wait_for "striped stack: mh-attention moe-mlp" 3 || fail "stack not striped"
keys Down; wait_for "layer 2 moe-mlp: experts=8 top_k=2 inner=16 routing=reference" 3 ||
    fail "the stack view does not name the routing"
keys Enter; wait_for "routing +reference +reference\|topk" 3 || fail "the knob form shows no routing word"
keys Down Down Down C-u dense Enter
wait_for "routing: 'dense' is not one of reference\|topk" 3 || fail "a wrong routing word is not named"
keys C-u topk Enter; wait_for "knobs of layer 2 set" 3 || fail "routing=topk not applied"
wait_for "routing=topk" 3 || fail "the stack does not show routing=topk"
echo "ok: the knob form edits routing as a word and names a wrong one"

# recall against state: three tiny runs (width 32, 1 epoch of 2 steps) fill three rows
keys W; wait_for "model width" 3 || fail "no width form"
keys C-u 32 Enter; wait_for "width 32" 3 || fail "width not set"
keys 2; wait_for "Tasks" 3 || fail "no task view"
keys Enter; wait_for "difficulty of in-context-recall" 3 || fail "no difficulty form"
keys C-u 8 Down C-u 16 Down C-u 32 Down C-u 16 Enter
wait_for "difficulty set" 3 || fail "difficulty not set"
keys o; wait_for "run options" 3 || fail "no options form"
keys C-u 1 Down C-u 16 Enter
wait_for "1 epochs, batch 16" 3 || fail "options not set"
keys 1
runs=0
for st in mamba mh-attention mh-gated-linear-attention; do
    keys 1 s; wait_for "striping" 3 || fail "no striping form"
    keys C-u "$st" Down C-u 0 Down C-u swiglu Enter
    wait_for "striped stack: $st swiglu" 3 || fail "stack $st not striped"
    keys r; runs=$((runs + 1))
    wait_for "run #$runs done" 60 || fail "run $runs did not finish"
done
echo "ok: three runs done"

keys 5; wait_for "Recall against state: in-context-recall" 3 || fail "no state view"
wait_for "1/3 .*state .* floats at L=" 3 || fail "the cursor's stack is not named"
first=$(cap | grep -o "1/3 [^[]*")
keys Down; wait_for "2/3 " 3 || fail "Down did not move the cursor"
keys Down; wait_for "3/3 mh-attention swiglu @32 .*\(grows\)" 3 ||
    fail "the largest state is not attention's growing cache, or not last"
keys G g; wait_for "1/3 " 3 || fail "g did not go back to the first"
keys t; wait_for "Recall against state: fuzzy-in-context-recall" 3 || fail "t did not change the task"
wait_for "no stack with a state has run this task yet" 3 || fail "no message for a task without runs"
keys T; wait_for "Recall against state: in-context-recall" 3 || fail "T did not go back"
echo "ok: the state view plots three stacks, the cursor moves and names them ($first)"

keys c; wait_for "export recall against state" 3 || fail "no export form"
keys C-u "$tmp/sv" Enter
wait_for "exported $tmp/sv-state.csv \(3 stacks\)" 5 || fail "state CSV not exported"
head -1 "$tmp/sv-state.csv" | grep -q "^stack,setting,seq_len,state,params,state_fixed,in-context-recall," ||
    fail "bad state CSV header: $(head -1 "$tmp/sv-state.csv")"
[[ $(wc -l <"$tmp/sv-state.csv") -eq 4 ]] || fail "the state CSV should have three rows"
awk -F, 'NR > 1 && ($4 <= 0 || $5 <= 0 || $7 == "" || $7 < 0 || $7 > 1) { bad = 1 } END { exit bad }' \
    "$tmp/sv-state.csv" || fail "state CSV rows malformed: $(cat "$tmp/sv-state.csv")"
grep -q '^mh-attention swiglu @32,.*,0,' "$tmp/sv-state.csv" || fail "attention not marked as growing"
keys c; wait_for "export recall against state" 3 || fail "no export form"
keys C-u "$tmp/sv" Enter; wait_for "Overwrite" 3 || fail "no overwrite question"
keys n; wait_for "cancelled" 3 || fail "not cancelled"
echo "ok: exported the plot's data, asks before overwriting"

keys q; wait_for "Quit|LAB-EXITED" 5
cap | grep -q "Quit" && keys y
wait_for "LAB-EXITED rc=0" 10 || fail "did not exit with 0"
echo "ok: quit"
