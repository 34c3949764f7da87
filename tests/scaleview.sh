#!/bin/bash
# The lab's scaling view in a real terminal (tmux, a private socket): two scaling directories made
# by madlab scale on a tiny generated corpus (as tests/scale.sh does) are given with --scale-dir;
# key 6 (and F8) opens the view at 80x24 on the first, with its markers, minima and the frontier
# the CLI wrote; Down shows the second; at 200x60 the frontier fits one line; the help lists the
# key; a lab without directories says how to give them; a bad directory or a stray --mad stops
# the lab before it starts, naming what is wrong. a adds a directory while the lab runs (bad paths
# get one line naming them). L queues the scaling protocol for the lab's stack on the text task's
# corpus (set in the task view) at tiny budgets (1e9,2e9, 3 sizes, context 32: seconds, not the
# quick protocol's quarter of an hour): its runs show in the run view, its files land in
# $XDG_DATA_HOME/madlab/scale/ in madlab scale's layout (--collect reads them), the scaling view
# shows the frontier; quitting mid-protocol leaves no half-written file and L resumes.
TEST_NAME=scaleview
. "$(dirname "$0")/tmux-lib.sh"

awk 'BEGIN { srand(7); split("the of and a to in is was that he for it with as his on be at by", w, " ");
             for (i = 0; i < 40000; i++) printf "%s%s", w[int(rand() * 19) + 1], (i % 12 == 11) ? ".\n" : " " }' \
    >"$tmp/corpus.txt"
A=(--corpus "$tmp/corpus.txt" --budgets 1e9,2e9 --seq-len 32 --threads 1)
"$MADLAB" scale --stack "mh-attention swiglu" --sizes 3 "${A[@]}" --out "$tmp/s1" >"$tmp/s1.out" 2>&1 ||
    { echo "FAIL: madlab scale s1: $(tail -n 3 "$tmp/s1.out")"; exit 1; }
"$MADLAB" scale --stack "mamba swiglu" --sizes 5 "${A[@]}" --out "$tmp/s2" >"$tmp/s2.out" 2>&1 ||
    { echo "FAIL: madlab scale s2: $(tail -n 3 "$tmp/s2.out")"; exit 1; }
# the frontier's L_opt at 2e9 as the CLI wrote it, to 4 places as the view shows it
lopt=$(awk -F, '$1 == "budget" && $2 == "2e+09" { printf "%.4f", $5 }' "$tmp/s1/frontier.csv")
[ -n "$lopt" ] || { echo "FAIL: no 2e9 row in frontier.csv: $(cat "$tmp/s1/frontier.csv")"; exit 1; }

start() { # start W H ARGS...: the lab on a fresh tmux server (a new session on the socket
    # just killed can race its shutdown: "server exited unexpectedly")
    local w=$1 h=$2
    shift 2
    $T kill-server 2>/dev/null
    S=$S-x
    T="tmux -L $S -f /dev/null"
    mkdir -p "$tmp/config"
    $T new-session -d -s "$S" -x "$w" -y "$h" \
        "cd '$tmp' && XDG_CONFIG_HOME='$tmp/config' XDG_DATA_HOME='$tmp/data' LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color '$MADLAB' --threads 1 $*; echo LAB-EXITED rc=\$?; sleep 30"
}

start 80 24 --scale-dir s1 --scale-dir s2
wait_for "Stack" 10 || fail "the lab did not start"
cap | grep -q "6 Scale" || fail "no 6 Scale tab"
keys 6; wait_for "Scaling: mh-attention swiglu" 3 || fail "6 did not open the scaling view"
wait_for "\(1 of 2, Up/Down\)  s1: 6 of 6 runs" 3 || fail "the header lacks the directory and its runs"
cap | grep -q "● C=1e09 ■ C=2e09 ★ fitted minimum" || fail "no legend of one marker per budget"
[ "$(cap | grep -c '★')" -ge 3 ] || fail "the fitted minima are not starred on the plot"
cap | grep -q "·" || fail "no parabola drawn"
cap | grep -q "1.0k" || fail "no log axis of parameters"
cap | tr -d '\n' | grep -q "C=2e09 N\*=[0-9.k]* L\*=$lopt" || fail "the frontier does not show L_opt $lopt of frontier.csv"
cap | tr -d '\n' | grep -q "N_opt ~ C^" || fail "no frontier exponents"
cap | tr -d '\n' | grep -q "give a MAD directory with --mad DIR" || fail "no word on the MAD comparison"
echo "ok: 6 opens the scaling view at 80x24: markers per budget, parabolas, minima, frontier $lopt"
keys Down; wait_for "Scaling: mamba swiglu" 3 || fail "Down did not show the second directory"
wait_for "s2: 10 of 10 runs" 3 || fail "the second directory's runs"
keys Up; wait_for "Scaling: mh-attention swiglu" 3 || fail "Up did not come back"
keys c; wait_for "export the scaling view to CSV" 3 || fail "c opened no export form"
keys C-u "$tmp/view" Enter
wait_for "exported $tmp/view-scaling-runs.csv" 3 && [ -f "$tmp/view-scaling-frontier.csv" ] ||
    fail "c did not export the view"
[ "$(grep -c "mh-attention swiglu" "$tmp/view-scaling-runs.csv")" -eq 6 ] &&
    [ "$(grep -c "mamba swiglu" "$tmp/view-scaling-runs.csv")" -eq 10 ] ||
    fail "the runs export lacks a directory's runs: $(cat "$tmp/view-scaling-runs.csv")"
head -1 "$tmp/view-scaling-frontier.csv" | grep -q "^dir,stack,budget,points,n_opt,l_opt,ppl_opt" ||
    fail "the frontier export has no header"
keys c; wait_for "export the scaling view to CSV" 3 || fail "c opened no export form again"
keys C-u "$tmp/view" Enter; wait_for "Overwrite" 3 || fail "c did not ask before overwriting"
keys n
keys 1; wait_for "Layers" 3 || keys 1
keys F8; wait_for "Scaling: mh-attention swiglu" 3 || fail "F8 did not open the scaling view"
"$MADLAB" keys | grep -q "6 F8 .*scaling view" || fail "madlab keys lacks the scaling view key"
echo "ok: Up/Down choose the directory, F8 opens the view, madlab keys lists it"
keys q; wait_for "LAB-EXITED rc=0" 5 || { keys y; wait_for "LAB-EXITED rc=0" 5 || fail "q did not end the lab"; }

start 200 60 --scale-dir s1 --scale-dir s2
wait_for "Stack" 10 || fail "the lab did not start at 200x60"
keys 6; wait_for "Scaling: mh-attention swiglu" 3 || fail "no scaling view at 200x60"
cap | grep -q "frontier:  C=1e09 N\*=.*C=2e09 N\*=.*L\*=$lopt.*N_opt ~ C^" ||
    fail "at 200x60 the frontier is not one line"
cap | grep -q "1.0k" || fail "no log axis at 200x60"
echo "ok: the scaling view at 200x60"

start 80 24
wait_for "Stack" 10 || fail "the lab did not start without directories"
keys 6; wait_for "No scaling directories" 3 || fail "no word on how to give directories"
wait_for "madlab --scale-dir DIR" 3 || fail "the empty view does not name the option"
echo "ok: the view without directories says how to give them"

start 80 24 --scale-dir nothing
wait_for "LAB-EXITED rc=2" 5 || fail "a bad --scale-dir did not stop the lab"
cap | grep -q "madlab: --scale-dir nothing: .*nothing" || fail "no clear line for a bad --scale-dir"
"$MADLAB" --mad "$tmp/s1" >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 2 ] && grep -q "give it once after the --scale-dir DIR it scores" "$tmp/out" ||
    fail "a --mad before any --scale-dir: rc $rc: $(cat "$tmp/out")"
echo "ok: a bad directory and a stray --mad stop the lab with one line"

# a: a directory added while the lab runs; bad paths are one line naming them
start 80 24 --scale-dir s1
wait_for "Stack" 10 || fail "the lab did not start"
keys 6; wait_for "Scaling: mh-attention swiglu" 3 || fail "no scaling view"
keys a; wait_for "add a scaling directory" 3 || fail "a opened no form"
keys "$tmp/nothing" Enter; wait_for "scaling directory $tmp/nothing: no such directory" 3 || fail "no line for a missing directory"
keys C-u "$tmp/corpus.txt" Enter; wait_for "scaling directory $tmp/corpus.txt: not a directory" 3 || fail "no line for a file"
keys C-u "$tmp/config" Enter; wait_for "$tmp/config is not a directory made by madlab scale" 3 || fail "no line for a foreign directory"
keys C-u s2 Down s1 Enter; wait_for "s1/mad.run" 3 || fail "a scaling directory given as the MAD directory was not refused"
keys C-u Enter; wait_for "added s2: 10 of 10 runs" 3 || fail "a did not add s2"
wait_for "Scaling: mamba swiglu .*\(2 of 2, Up/Down\)" 3 || fail "the view does not show the added directory"
echo "ok: a adds a scaling directory while the lab runs; bad paths are refused with one line"
keys q; wait_for "LAB-EXITED rc=0" 5 || { keys y; wait_for "LAB-EXITED rc=0" 5 || fail "q did not end the lab"; }

# L: the scaling protocol for the lab's stack (mh-attention swiglu at width 32), at tiny budgets
# on the corpus set in the task view
small_stack() {
    keys 1 W; wait_for "model width" 3 || fail "no width form"; keys C-u 32 Enter
    keys s; wait_for "striping" 3 || fail "no striping form"
    keys C-u mh-attention Down C-u 1 Down C-u swiglu Enter
    wait_for "striped stack: mh-attention swiglu" 3 || fail "could not make the stack"
}
corpus_and_protocol() { # BUDGETS: set the text task's corpus, then L with these budgets
    keys 2 G; wait_for "^ Difficulty: vocab 256" 20 || fail "the text task is not in the task list"
    keys Enter; wait_for "difficulty of text" 3 || fail "no form for the text task"
    cap | grep -q " corpus  " || fail "the text task's form has no corpus field"
    keys "$tmp/none.txt" Enter; wait_for "cannot open corpus $tmp/none.txt" 3 || fail "a missing corpus was not refused"
    keys C-u "$tmp/corpus.txt" Enter; wait_for "text: difficulty set" 3 || fail "the corpus was not set"
    wait_for "Corpus: $tmp/corpus.txt" 3 || fail "the task view does not show the corpus"
    keys L; wait_for "quick scaling protocol for mh-attention swiglu" 3 || fail "L opened no form"
    keys "$1" Down 3 Down 32 Enter
}
start 80 24
wait_for "Stack" 10 || fail "the lab did not start"
small_stack
corpus_and_protocol 1e9,2e9
wait_for "run #[0-9]+ +\[(running|queued)\] +scaling [1-6]/6: C=1e09 width [0-9]+, [0-9.k]+ params" 30 ||
    fail "the run view does not show the scaling run, its size and budget"
wait_for "epoch 1/1 step [0-9]+/[0-9]+" 30 || fail "no live progress of the scaling run"
cap | grep -q "train loss" || fail "no loss chart for the scaling run"
echo "ok: L queues the scaling protocol; the run view shows which run, its size and budget, live"
wait_for "the scaling protocol for mh-attention swiglu @32 is done \(6 runs\)" 300 || fail "the protocol did not finish"
first=$(echo "$tmp"/data/madlab/scale/quick_mh-attention_swiglu_w32_*)
[[ -f $first/frontier.csv && -f $first/runs.csv && -f $first/scale.run ]] || fail "no madlab scale layout in $first: $(ls -A "$first")"
[[ $(ls "$first"/*.result | wc -l) -eq 6 ]] || fail "not six result files in $first"
ls -A "$first" | grep -q '^\.' && fail "a temporary was left in $first: $(ls -A "$first")"
"$MADLAB" scale --collect "$first" >"$tmp/collect.out" 2>&1 || fail "madlab scale --collect on the lab's directory: $(tail -3 "$tmp/collect.out")"
grep -q "runs=6/6" "$tmp/collect.out" || fail "--collect does not see six runs: $(cat "$tmp/collect.out")"
keys 6; wait_for "Scaling: mh-attention swiglu  \(1 of 1, Up/Down\)" 3 || fail "the scaling view does not show the lab's protocol"
wait_for "6 of 6 runs" 3 || fail "the scaling view does not show all six runs"
cap | tr -d '\n' | grep -q "frontier:  C=1e09" || fail "no frontier in the scaling view"
keys 4; wait_for "no results yet" 3 || fail "a scaling run filled a results row"
keys L; wait_for "quick scaling protocol" 3 || fail "L opened no form the second time"; keys Enter
wait_for "all 6 runs of that scaling protocol are done" 3 || fail "a second L redid finished runs"
echo "ok: the protocol's files are madlab scale's (--collect reads them), the scaling view shows its frontier"
# a text run of its own: bits per byte and perplexity in the run view, the results table's LM column
keys o; wait_for "run options" 3 || fail "no options form"; keys C-u 1 Enter
keys 2; wait_for "Corpus: $tmp/corpus.txt" 3 || fail "the text task is not the current task"
keys Enter; wait_for "difficulty of text" 3 || fail "no form for the text task"
keys Down Down C-u 32 Down C-u 256 Enter; wait_for "seq_len 32 n_train 256" 3 || fail "the text run's size was not set"
keys r; wait_for "run #[0-9]+ \(text\) done: validation [0-9.]+ bits/byte, perplexity [0-9.]+ per byte" 180 ||
    fail "a text run's end does not give bits per byte and perplexity"
cap | grep -q "done, 1 epoch: validation [0-9.]* bits/byte" || fail "the run view does not give bits per byte"
keys 4; wait_for "LM bpb" 3 || fail "the results table has no bits-per-byte column"
cap | grep -Eq " MAD +LM bpb" && cap | grep -Eq "  [0-9]\.[0-9]+ #[0-9]+" || fail "the text run's bits per byte are not in its row"
echo "ok: a text run gives bits per byte and perplexity in the run view and the results table"
keys q; wait_for "LAB-EXITED rc=0" 5 || { keys y; wait_for "LAB-EXITED rc=0" 5 || fail "q did not end the lab"; }

# quitting mid-protocol leaves whole files only; L picks up where it stopped
start 80 24
wait_for "Stack" 10 || fail "the lab did not start"
small_stack
corpus_and_protocol 2e9,3e9,4e9
# the files, not the screen: the status line may have moved on by the next capture. Budgets
# large enough that the protocol is still going when q comes.
for ((i = 0; i < 1800; i++)); do
    (($(ls "$tmp"/data/madlab/scale/*/*.result | wc -l) >= 7)) && break
    sleep 0.1
done
(($(ls "$tmp"/data/madlab/scale/*/*.result | wc -l) >= 7)) || fail "no scaling run finished"
keys q; wait_for "The scaling protocol is going" 3 || fail "quit did not ask while the protocol runs"
keys y; wait_for "LAB-EXITED rc=0" 30 || fail "the lab did not quit mid-protocol"
ls -A "$tmp"/data/madlab/scale/*/ | grep -q '^\.' && fail "quitting left a temporary: $(ls -AR "$tmp/data")"
n=$(ls "$tmp"/data/madlab/scale/*/*.result | wc -l)
[[ $n -ge 7 && $n -lt 15 ]] || fail "expected some but not all of the nine new runs done: $n result files"
start 80 24
wait_for "Stack" 10 || fail "the lab did not start again"
keys 6; wait_for "Scaling: mh-attention swiglu  \(1 of 2, Up/Down\)" 3 ||
    fail "a lab started again does not show the scaling directories it made"
small_stack
corpus_and_protocol 2e9,3e9,4e9
wait_for "queued [0-9] runs of the quick scaling protocol \([1-8] of 9 done before\)" 5 || fail "L did not resume"
wait_for "scaling [0-9]/[0-9] \(plan 9\)" 10 || fail "the run view does not show the plan's size on resume"
wait_for "the scaling protocol for mh-attention swiglu @32 is done \(9 runs\)" 300 || fail "the resumed protocol did not finish"
[[ $(ls "$tmp"/data/madlab/scale/*/*.result | wc -l) -eq 15 ]] || fail "not 6 + 9 result files"
keys 6; wait_for "9 of 9 runs" 3 || fail "the scaling view does not show the resumed protocol"
echo "ok: quitting mid-protocol leaves whole files; L resumes and finishes it"
keys q; wait_for "LAB-EXITED rc=0" 5 || { keys y; wait_for "LAB-EXITED rc=0" 5 || fail "q did not end the lab"; }
exit 0
