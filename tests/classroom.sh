#!/bin/bash
# The lab for a class and a stage (tmux): the first screen names the task and a first step; at
# 80x24 the run state and the progress line are whole; two runs of one stack at two settings
# are two labelled results rows with their run ids; the demo steps on a key to the results table.
TEST_NAME=classroom
. "$(dirname "$0")/tmux-lib.sh"
start() { # COLS ROWS [ARGS]: a fresh server each time (a killed one can race its shutdown)
    $T kill-server 2>/dev/null
    S=$S-x; T="tmux -L $S -f /dev/null"
    $T new-session -d -s "$S" -x "$1" -y "$2" \
        "cd '$tmp' && XDG_CONFIG_HOME='$tmp/config' XDG_DATA_HOME='$tmp/data' LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color '$MADLAB' --threads 1 $3; echo LAB-EXITED rc=\$?; sleep 30"
}

# the first screen names the task and what r does, at 80x24 and 120x40, with its key hints
for size in "80 24" "120 40"; do
    start $size
    wait_for "Stack" 10 || fail "the lab did not start at $size"
    wait_for "r trains this stack on in-context-recall" 3 || fail "first screen at $size: no first step"
    [[ $size != "80 24" ]] && continue
    keys p; wait_for "no run is going" 3 || fail "no message for p"
    wait_for "r trains this stack on in-context-recall" 12 || fail "the key hints did not come back at $size"
    # the task form lists the settings selective copying reads (n_copy) before those it does not
    keys 2 j j j Enter; wait_for "difficulty of selective-copying" 3 || fail "no task form"
    c=$(cap)
    a=$(grep -n " n_copy " <<<"$c" | head -1 | cut -d: -f1); b=$(grep -n " frac_noise " <<<"$c" | head -1 | cut -d: -f1)
    [[ -n $a && -n $b && $a -lt $b ]] || fail "the task form does not list the settings read first"
    keys Escape
    # i: the task's teaching page, n steps to the next task
    keys i; wait_for "Task 4 of 6" 3 || fail "i shows no task page"
    grep -q "seq_len" <<<"$(cap)" || fail "the task page lacks the setting"
    keys n; wait_for "Task 5 of 6" 3 || fail "n does not step to the next task"
    keys Escape 1
done
echo "ok: the first screen names the task and its first step; the hints come back after a message"

# 80x24: a small stack at two settings; the title keeps the run state, the progress line is whole
start 80 24
wait_for "Stack" 10 || fail "the lab did not start"
keys W; wait_for "width" 3; keys C-u 32 Enter
keys o; wait_for "run options" 3 || fail "no options form"
keys C-u 2 Down C-u 16 Enter
keys 2; wait_for "Tasks" 3; keys Enter; wait_for "difficulty of" 3 || fail "no difficulty form"
# 8192 training sequences: a run of seconds, so even a fast idle machine shows its progress line
keys C-u 8 Down C-u 16 Down C-u 8192 Down C-u 32 Enter
wait_for "difficulty set" 3 || fail "difficulty not set"
keys r
wait_for "epoch [0-9]+/2 step" 30 || fail "no progress at 80x24"
c=$(cap)
head -1 <<<"$c" | grep -Eq "#1 (running|queued|done)" || fail "the title line lacks the run state at 80x24"
grep -Eq "epoch [0-9]+/2 step [0-9]+/[0-9]+ .* ETA [0-9a-z-]+" <<<"$c" || fail "the progress line is cut at 80x24"
echo "ok: 80x24 shows the run state and the whole progress line"
wait_for "run #1 .*done" 240 || fail "run 1 did not end"
keys 2; keys Enter; wait_for "difficulty of" 3; keys Down C-u 24 Enter
wait_for "difficulty set" 3 || fail "difficulty not set (2)"
keys r
wait_for "run #2 .*done" 240 || fail "run 2 did not end"
keys 4; wait_for "stack \[setting\]" 3 || fail "no results view"
c=$(cap)
grep -q "seq_len 16" <<<"$c" && grep -q "seq_len 24" <<<"$c" || fail "the two settings are not two labelled rows"
grep -Eq "[0-9]\.[0-9]+ #1" <<<"$c" && grep -Eq "[0-9]\.[0-9]+ #2" <<<"$c" || fail "the cells lack their run ids"
echo "ok: two settings, two labelled rows with run ids"
keys q; wait_for "not saved as a preset" 3 || fail "q did not warn about the unsaved stack (width changed)"
keys y; wait_for "LAB-EXITED rc=0" 10 || fail "did not quit"
echo "ok: q warns about an unsaved stack"

# the demo: Space steps on, through the stack, the task, the runs, to the results table
start 100 30 --demo
wait_for "1/6" 10 || fail "the demo did not start"
for step in 2 3 4 5 6; do
    keys Space
    wait_for "$step/6" 3 || fail "Space did not step the demo to $step/6"
done
wait_for "Results per stack" 3 || fail "the demo did not reach the results table"
keys Escape; wait_for "demo over" 3 || fail "Escape did not end the demo"
echo "ok: the demo steps on a key to the results table"
keys q; wait_for "Quit and stop it" 3 && keys y
wait_for "LAB-EXITED rc=0" 10 || fail "did not quit after the demo"
