#!/bin/bash
# The lab's scaling view in a real terminal (tmux, a private socket): two scaling directories made
# by madlab scale on a tiny generated corpus (as tests/scale.sh does) are given with --scale-dir;
# key 6 (and F8) opens the view at 80x24 on the first, with its markers, minima and the frontier
# the CLI wrote; Down shows the second; at 200x60 the frontier fits one line; the help lists the
# key; a lab without directories says how to give them; a bad directory or a stray --mad stops
# the lab before it starts, naming what is wrong.
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
        "cd '$tmp' && XDG_CONFIG_HOME='$tmp/config' LANG=C.UTF-8 LC_ALL=C.UTF-8 TERM=xterm-256color '$MADLAB' --threads 1 $*; echo LAB-EXITED rc=\$?; sleep 30"
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
exit 0
