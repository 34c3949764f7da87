#!/bin/bash
# Soak of the lab: drives ./madlab in tmux while it trains, with random keys and random terminal
# sizes, for SOAK_SECONDS; then checks that it is still alive and answers ('?' opens the help),
# that it quits with status 0, that the terminal is restored (echo and canonical mode on) and
# that no sanitizer wrote a report. Not part of make check; CI runs it on the sanitizer build:
#   MADLAB=_build-san/madlab SOAK_SECONDS=60 tests/soak-lab.sh
# SOAK_SEED repeats a run's random choices (each run prints its seed); on failure the last keys
# sent are printed (all of them are in the log it names, kept when SOAK_KEEP=1).
: "${MADLAB:=./madlab}"
: "${SOAK_SECONDS:=600}"
: "${SOAK_SEED:=$(date +%s)}"
command -v tmux >/dev/null 2>&1 || { echo "tmux not installed: skipped"; exit 77; }
MADLAB=$(cd "$(dirname "$MADLAB")" && pwd)/$(basename "$MADLAB")
tmp=$(mktemp -d)
S=madlab-soak-$$
T="tmux -L $S -f /dev/null"
cleanup() {
    $T kill-server 2>/dev/null
    if [ "${SOAK_KEEP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
cap() { $T capture-pane -p -t "$S" 2>/dev/null; }
keys() { printf '%s\n' "$*" >>"$tmp/keys.log"; $T send-keys -t "$S" "$@"; }
fail() {
    echo "FAIL: $* (seed $SOAK_SEED)"
    echo "---- last keys sent (one send-keys call a line; 'resize WxH' for resizes) ----"
    tail -n 40 "$tmp/keys.log"
    echo "---- screen ----"
    cap
    san_reports
    exit 1
}
# wait_for PATTERN [SECONDS]: until the screen matches (grep -E)
wait_for() {
    local i
    for ((i = 0; i < ${2:-10} * 10; i++)); do
        cap | grep -Eq -- "$1" && return 0
        sleep 0.1
    done
    return 1
}
lab_pid() { cat "$tmp/pid" 2>/dev/null; }
alive() { local p; p=$(lab_pid) && [ -n "$p" ] && kill -0 "$p" 2>/dev/null; }
# Sanitizer reports go to files (the terminal is curses'): print them; status 0 if any.
san_reports() {
    local f found=1
    for f in "$tmp"/san.*; do
        [ -f "$f" ] || continue
        echo "---- sanitizer report $f ----"
        cat "$f"
        found=0
    done
    return $found
}

echo "soak of the lab for $SOAK_SECONDS s, seed $SOAK_SEED"
RANDOM=$SOAK_SEED
mkdir -p "$tmp/config/madlab/presets"
san="log_path=$tmp/san"
$T new-session -d -s "$S" -x 120 -y 40 \
    "cd '$tmp' && XDG_CONFIG_HOME='$tmp/config' XDG_DATA_HOME='$tmp/data' LANG=C.UTF-8 LC_ALL=C.UTF-8 \
     TERM=xterm-256color ASAN_OPTIONS='${ASAN_OPTIONS:+$ASAN_OPTIONS:}$san' \
     UBSAN_OPTIONS='${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}$san' \
     TSAN_OPTIONS='${TSAN_OPTIONS:+$TSAN_OPTIONS:}$san' '$MADLAB' --threads 1; \
     echo LAB-EXITED rc=\$?; stty -a | tr ' ' '\n' | grep -x -e echo -e icanon | sort | tr '\n' ' '; \
     echo; sleep 60"
wait_for "Stack" 20 || fail "the lab did not start"
# the lab is the only child of the pane's shell
shell_pid=$($T list-panes -t "$S" -F '#{pane_pid}')
ps -o pid= --ppid "$shell_pid" | tr -d ' ' >"$tmp/pid"
alive || fail "cannot find the lab's process"

# A small task and many epochs, so that a run is going whenever one is queued.
keys 2; wait_for "Tasks" 5 || fail "no task view"
keys Enter; wait_for "difficulty of" 5 || fail "no difficulty form"
keys C-u 8 Down C-u 16 Down C-u 512 Down C-u 32 Enter
keys o; wait_for "run options" 5 || fail "no options form"
keys C-u 1000 Down C-u 16 Enter
keys r
wait_for "epoch [0-9]+/1000 step" 60 || fail "the run shows no progress"
echo "ok: training"

# Every key of 'madlab keys' but the ones that end the lab (q, F10, Ctrl-C), plus keys a form
# or a list might meet. Text keys stay in a small alphabet without '/' so that a typed file name
# (export, save) stays in the scratch directory.
cmd_keys=('?' F1 1 F2 2 F3 3 F4 4 F6 Tab BTab r F5 p x X Q o l w e C-l
          Up Down Left Right Home End PPage NPage k j g G a d IC DC '[' ']' W s i Enter E n
          Space '>' '<' I Escape BSpace C-u C-a C-e C-k C-w y n)
text_keys=(a b c m z 0 1 2 3 5 7 9 - = , '(' ')' : ' ')
sizes=("20 6" "40 12" "50 12" "80 24" "100 30" "120 40" "160 50" "200 60" "79 23" "121 41" "1 1")

n_keys=0 n_resize=0 start=$SECONDS last_check=$SECONDS last_run=$SECONDS
while ((SECONDS - start < SOAK_SECONDS)); do
    r=$((RANDOM % 100))
    if ((r < 4)); then
        read -r w h <<<"${sizes[RANDOM % ${#sizes[@]}]}"
        echo "resize ${w}x$h" >>"$tmp/keys.log"
        $T resize-window -t "$S" -x "$w" -y "$h"
        n_resize=$((n_resize + 1))
    elif ((r < 30)); then
        k=()
        for ((i = 0; i < 1 + RANDOM % 6; i++)); do k+=("${text_keys[RANDOM % ${#text_keys[@]}]}"); done
        keys "${k[@]}"
        n_keys=$((n_keys + ${#k[@]}))
    else
        keys "${cmd_keys[RANDOM % ${#cmd_keys[@]}]}"
        n_keys=$((n_keys + 1))
    fi
    # keep training going: queue a run every few seconds (queued behind one that goes)
    if ((SECONDS - last_run >= 5)); then
        keys Escape Escape r
        last_run=$SECONDS
    fi
    if ((SECONDS - last_check >= 5)); then
        alive || fail "the lab died during the soak"
        last_check=$SECONDS
    fi
    sleep "0.0$((RANDOM % 8))"
done
echo "ok: $n_keys keys and $n_resize resizes in $((SECONDS - start)) s"

alive || fail "the lab died during the soak"
$T resize-window -t "$S" -x 120 -y 40
sleep 0.5
# close whatever is open (forms, pickers, questions), then the help must open
for i in 1 2 3 4; do keys Escape; sleep 0.2; done
cap | grep -q "Help: keys" && { keys Escape; sleep 0.3; }
keys '?'
wait_for "Help: keys" 5 || fail "the lab does not answer: '?' shows no help"
echo "ok: alive and answers"
keys Escape; sleep 0.3
keys q
# q asks first while a run is going or the stack is not a saved preset
if wait_for "Quit (and stop it|anyway)\?" 3 && ! cap | grep -q "LAB-EXITED"; then keys y; fi
wait_for "LAB-EXITED rc=0" 30 || fail "did not quit with status 0"
wait_for "echo icanon" 5 || fail "the terminal was not restored (echo or icanon off)"
echo "ok: quit with status 0, terminal restored"
san_reports && fail "a sanitizer reported"
echo "ok: no sanitizer report"
