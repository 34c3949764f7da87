#!/bin/bash
# The lab in a real terminal (tmux): load a preset, set small task settings, start a run, check
# that the loss curve and the state-size counters appear and change while keys still answer,
# resize during the run, stop it, export, check the CSV (one row per epoch), quit with status 0.
TEST_NAME=labtest
. "$(dirname "$0")/tmux-lib.sh"

mkdir -p "$tmp/config/madlab/presets"
cat >"$tmp/config/madlab/presets/aaa-labtest.preset" <<'P'
description: small stack for the lab test
stack: mh-attention(heads=2) swiglu(inner=64)
width: 32
norm: rmsnorm
P
$T new-session -d -s "$S" -x 120 -y 40 \
    "cd '$tmp' && XDG_CONFIG_HOME='$tmp/config' XDG_DATA_HOME='$tmp/data' LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color '$MADLAB' --threads 1; echo LAB-EXITED rc=\$?; sleep 30"
wait_for "Stack" 10 || fail "the lab did not start"
echo "ok: started"

# load the preset (sorted first; the list opens on the loaded one, default; g goes to the top)
keys l; wait_for "Load a preset" 5 || fail "no preset list"
wait_for "default .*\(loaded\)" 3 || fail "the preset list does not mark the loaded preset"
wait_for "aaa-labtest +mh-attention\(heads=2\) swiglu\(inner=64\) @32" 3 || fail "the preset list lacks the layers"
keys g Enter; wait_for "loaded preset aaa-labtest" 5 || fail "preset not loaded"
wait_for "mh-attention .*heads=2" 3 || fail "the stack of the preset is not shown"
echo "ok: preset loaded"

# small task: vocab 8, seq_len 16, 4096 train (enough that 500 epochs outlast the checks below
# on a fast idle machine: about 65k tokens an epoch), 32 test
keys 2; wait_for "Tasks" 3 || fail "no task view"
keys Enter; wait_for "difficulty of" 3 || fail "no difficulty form"
keys C-u 8 Down C-u 16 Down C-u 4096 Down C-u 32 Enter
wait_for "difficulty set" 3 || fail "difficulty not set"
# many epochs at batch 16: stopped by hand below
keys o; wait_for "run options" 3 || fail "no options form"
keys C-u 500 Down C-u 16 Enter
wait_for "500 epochs, batch 16" 3 || fail "options not set"
echo "ok: task and options set"

keys r
wait_for "epoch [0-9]+/500 step" 30 || fail "the run shows no progress"
wait_for "epoch ([2-9]|[1-9][0-9]+)/500" 30 || fail "no second epoch"
a=$(cap); sleep 1.5; b=$(cap)
[[ "$a" != "$b" ]] || fail "the screen did not change during the run"
for s in "$a" "$b"; do
    grep -q "loss" <<<"$s" || fail "no loss on screen"
    grep -q "state" <<<"$s" || fail "no state on screen"
    grep -q "state@L" <<<"$s" || fail "no state-size counters"
    grep -q "total (all layers)" <<<"$s" || fail "no state total"
done
grep -q $'\xe2\xa0' <<<"$b" || grep -q $'\xe2\xa1' <<<"$b" || grep -q $'\xe2\xa2' <<<"$b" ||
    grep -q $'\xe2\xa3' <<<"$b" || fail "no braille curve"
echo "ok: curve and counters live"

# keys answer while training
t0=$(date +%s%N); keys "?"; wait_for "Help: keys" 2 || fail "help did not open during the run"
t1=$(date +%s%N); echo "ok: help opened in $(((t1 - t0) / 1000000)) ms (poll granularity 100 ms)"
grep -qi quit <<<"$(cap)" || fail "help lacks quit"
keys Escape; sleep 0.3
cap | grep -q "Help: keys" && fail "Escape did not close help"

# resize during the run and back
$T resize-window -t "$S" -x 80 -y 24; sleep 1
c=$(cap)
grep -q "loss" <<<"$c" || fail "no loss at 80x24"
grep -q "state" <<<"$c" || fail "no state at 80x24"
$T resize-window -t "$S" -x 50 -y 12; sleep 1
cap | grep -q "needs a terminal of at least" || fail "no too-small message"
$T resize-window -t "$S" -x 120 -y 40; sleep 1
wait_for "total \(all layers\)" 3 || fail "not redrawn at 120x40"
echo "ok: resized while training"

# stop; the epochs done stay
keys x
wait_for "stopped after [0-9]+ epochs" 30 || fail "the run did not stop"
n=$(cap | grep -Eo "stopped after [0-9]+ epochs" | grep -Eo "[0-9]+")
echo "ok: stopped after $n epochs"

# export, then the same prefix again: asks before overwriting
keys e; wait_for "export run logs" 3 || fail "no export form"
keys C-u "$tmp/out" Enter
wait_for "exported 2 files" 5 || fail "export failed"
[[ -f $tmp/out-results.csv && -f $tmp/out-run1.csv ]] || fail "missing CSV files"
# the run's columns (the same as madlab run --csv), then the epoch's
meta="run_id,stack,task,vocab,seq_len,n_train,n_test,frac_noise,noise_vocab,k_motif,v_motif,n_copy,multi_query,lr,wd,batch,seed,status"
head -1 "$tmp/out-run1.csv" | grep -qx "$meta,epoch,train_loss,test_loss,train_acc,test_acc,test_acc_micro,lr_now,seconds,tokens_per_s" ||
    fail "bad header: $(head -1 "$tmp/out-run1.csv")"
"$MADLAB" run --stack "mh-attention(heads=2) swiglu(inner=64)" --width 32 --task in-context-recall \
    --vocab 8 --seq-len 16 --train 64 --test 32 --epochs 1 --batch 16 --threads 1 \
    --csv "$tmp/cli.csv" >/dev/null 2>&1 || fail "madlab run --csv failed"
[[ $(head -1 "$tmp/cli.csv") == "$(head -1 "$tmp/out-run1.csv")" ]] ||
    fail "madlab run --csv and the lab's export differ in columns: $(head -1 "$tmp/cli.csv")"
rows=$(($(wc -l <"$tmp/out-run1.csv") - 1))
[[ $rows -eq $n ]] || fail "run log has $rows rows for $n epochs"
# every row: run 1, the stack, the task and its setting as set above, stopped, epochs 1..n
awk -F, 'NR > 1 && (NF != 27 || $1 != 1 || $2 != "mh-attention(heads=2) swiglu(inner=64) @32" ||
    $3 != "in-context-recall" || $4 != 8 || $5 != 16 || $6 != 4096 || $7 != 32 || $16 != 16 ||
    $18 != "stopped" || $19 != NR - 1) { bad = 1 } END { exit bad }' "$tmp/out-run1.csv" ||
    fail "run log rows malformed: $(sed -n 2p "$tmp/out-run1.csv")"
head -1 "$tmp/out-results.csv" | grep -q "^$meta,setting,best_test_acc" || fail "bad results header"
[[ $(wc -l <"$tmp/out-results.csv") -eq 2 ]] || fail "results table should have one row"
grep -q "^1,.*,stopped," "$tmp/out-results.csv" || fail "results row lacks its run id and status"
echo "ok: exported $rows epochs"
keys e; wait_for "export run logs" 3 || fail "no export form"
keys C-u "$tmp/out" Enter
wait_for "Overwrite" 3 || fail "no overwrite question"
keys n; wait_for "cancelled" 3 || fail "not cancelled"
echo "ok: asks before overwriting"

# save the stack as a preset in the user's directory
keys w; wait_for "save the stack" 3 || fail "no save form"
keys C-u saved-by-test Enter
wait_for "saved preset saved-by-test" 5 || fail "preset not saved"
grep -q "^stack: mh-attention(heads=2) swiglu(inner=64)" "$tmp/config/madlab/presets/saved-by-test.preset" ||
    fail "saved preset lacks the stack"
echo "ok: preset saved"

keys q
wait_for "LAB-EXITED rc=0" 10 || fail "did not exit with 0"
echo "ok: quit with status 0"

# Ctrl-C during a run: the lab ends cleanly (status 130) with the terminal restored
# (a fresh tmux server: a new session on the socket just killed can race its shutdown)
$T kill-server 2>/dev/null
S=$S-c
T="tmux -L $S -f /dev/null"
$T new-session -d -s "$S" -x 100 -y 30 \
    "cd '$tmp' && XDG_CONFIG_HOME='$tmp/config' XDG_DATA_HOME='$tmp/data' LANG=C TERM=xterm-256color '$MADLAB' --threads 1; echo LAB-EXITED rc=\$?; stty -a | grep -o ' echo '; sleep 30"
wait_for "Stack" 10 || fail "the lab did not start (C locale)"
keys l; wait_for "Load a preset" 5 || fail "no preset list"
# 65536 training sequences: the run must outlast the checks on a fast idle machine (256 ended
# in under a second there); Ctrl-C ends it
keys g Enter 2 Enter C-u 8 Down C-u 16 Down C-u 65536 Down C-u 32 Enter r
wait_for "epoch [0-9]+/10 step" 30 || fail "no progress in the C locale"
wait_for "[|] *[.:']" 10 || fail "no ASCII chart in the C locale"
keys C-c
wait_for "LAB-EXITED rc=130" 10 || fail "Ctrl-C did not end the lab with 130"
wait_for "^ echo" 5 || fail "the terminal was not restored (echo off)"
echo "ok: Ctrl-C restores the terminal"

# A relative XDG_CONFIG_HOME is invalid (XDG spec) and ignored by both the lab and --preset: a
# preset saved from the lab lands in $HOME/.config/madlab/presets, where --preset finds it.
$T kill-server 2>/dev/null
S=$S-x
T="tmux -L $S -f /dev/null"
mkdir -p "$tmp/home" "$tmp/rel"
$T new-session -d -s "$S" -x 100 -y 30 \
    "cd '$tmp/rel' && HOME='$tmp/home' XDG_CONFIG_HOME=relcfg LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color '$MADLAB' --threads 1; echo LAB-EXITED rc=\$?; sleep 30"
wait_for "Stack" 10 || fail "the lab did not start (relative XDG_CONFIG_HOME)"
keys w; wait_for "save the stack" 3 || fail "no save form"
keys C-u rel-saved Enter
wait_for "saved preset rel-saved to $tmp/home/.config/madlab/presets/rel-saved.preset" 5 ||
    fail "preset not saved under HOME"
keys q
wait_for "LAB-EXITED rc=0" 10 || fail "did not exit with 0"
[[ -f $tmp/home/.config/madlab/presets/rel-saved.preset ]] || fail "no preset file under HOME"
[[ ! -e $tmp/rel/relcfg ]] || fail "the relative XDG_CONFIG_HOME was used"
(cd "$tmp/rel" && HOME="$tmp/home" XDG_CONFIG_HOME=relcfg "$MADLAB" run --preset rel-saved \
    --task in-context-recall --vocab 8 --seq-len 8 --train 8 --test 8 --epochs 1 --batch 8 \
    --threads 1 >"$tmp/rel.out" 2>&1) || { cat "$tmp/rel.out"; fail "--preset did not find the lab's preset"; }
echo "ok: a preset saved with a relative XDG_CONFIG_HOME is found by --preset"
