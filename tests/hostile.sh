#!/bin/bash
# madlab against hostile files and shared directories (issue 13): named pipes where files are
# read, devices and directories where files are written, outputs that cannot be written found
# before any training, two processes on one directory or one CSV, a damaged mad.run, a full disk
# on standard output, one stack-length limit, usage errors, and the lab's terminal checks.
: "${MADLAB:=./madlab}"
MADLAB=$(cd "$(dirname "$MADLAB")" && pwd)/$(basename "$MADLAB")
fails=0
tmp=$(mktemp -d)
S=madlab-hostile-$$
T="tmux -L $S -f /dev/null"
cleanup() { command -v tmux >/dev/null 2>&1 && $T kill-server 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

STACK="mh-attention swiglu"
TINY=(--width 32 --task in-context-recall --vocab 8 --seq-len 16 --train 32 --test 16 --batch 16 --threads 1)

# refused NAME PATTERN STATUS ARGS...: within 20 s (a FIFO must not block), with that status,
# one line matching PATTERN on stderr, and no training step on stdout
refused() {
    local name=$1 pat=$2 want=$3 rc
    shift 3
    timeout 20 "$MADLAB" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    if [ $rc -eq "$want" ] && grep -q -- "$pat" "$tmp/err" && ! grep -q "^epoch " "$tmp/out"; then
        ok "$name: $(head -1 "$tmp/err")"
    else
        fail "$name: status $rc (want $want)"; cat "$tmp/out" "$tmp/err" | head -5
    fi
}

# ---- non-regular files are refused, never read (a FIFO would block forever) ----
mkfifo "$tmp/fifo.preset" "$tmp/fifo"
refused "preset that is a FIFO" "fifo.preset: not a regular file" 2 \
    run --preset "$tmp/fifo.preset" --task in-context-recall
refused "preset that is a directory" "not a regular file (a directory)" 2 \
    run --preset "$tmp/" --task in-context-recall
mkdir -p "$tmp/m1"
mkfifo "$tmp/m1/mad.run"
refused "mad.run that is a FIFO (--out)" "mad.run: not a regular file" 1 \
    mad --stack "$STACK" --protocol quick --out "$tmp/m1" --emit-jobs
refused "mad.run that is a FIFO (--collect)" "mad.run: not a regular file" 1 mad --collect "$tmp/m1"
# a result file that is a FIFO or a directory: reported with the reason, counted as not done
"$MADLAB" mad --stack "$STACK" --protocol quick --out "$tmp/m2" --emit-jobs >"$tmp/jobs" 2>/dev/null
r1=$(grep -o "[^ ']*\.result" "$tmp/jobs" | sed -n 1p)
r2=$(grep -o "[^ ']*\.result" "$tmp/jobs" | sed -n 2p)
mkfifo "$r1"
mkdir "$r2"
timeout 20 "$MADLAB" mad --collect "$tmp/m2" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -ne 124 ] && grep -q "$(basename "$r1"): not a regular file" "$tmp/err" &&
   grep -q "$(basename "$r2"): not a regular file (a directory)" "$tmp/err"; then
    ok "result FIFO and directory named with the reason"
else
    fail "result FIFO/directory: status $rc"; cat "$tmp/err"
fi

# ---- atomic writes: no link followed, no device or directory replaced ----
echo precious >"$tmp/target"
ln -s "$tmp/target" "$tmp/log.csv.tmp"
ln -s "$tmp/target" "$tmp/.log.csv.tmp"
"$MADLAB" run --stack "$STACK" "${TINY[@]}" --epochs 1 --csv "$tmp/log.csv" >/dev/null 2>&1
if [ "$(cat "$tmp/target")" = precious ] && head -1 "$tmp/log.csv" | grep -q train_loss; then
    ok "a symlink at a temporary's name is not followed"
else
    fail "symlink followed: target now $(head -c 40 "$tmp/target")"
fi
refused "--csv a FIFO" "cannot write $tmp/fifo: not a regular file" 1 \
    run --stack "$STACK" "${TINY[@]}" --epochs 1 --csv "$tmp/fifo"
[ -p "$tmp/fifo" ] && ok "the FIFO is still a FIFO" || fail "the FIFO was replaced"
# device nodes of our own (root only; a broken build must not replace the real /dev/null)
if mknod "$tmp/null" c 1 3 2>/dev/null && mknod "$tmp/full" c 1 7 2>/dev/null; then
    refused "--result a copy of /dev/null" "cannot write $tmp/null: not a regular file" 1 \
        run --stack "$STACK" "${TINY[@]}" --epochs 1 --result "$tmp/null"
    refused "--csv a copy of /dev/full" "not a regular file" 1 \
        run --stack "$STACK" "${TINY[@]}" --epochs 1 --csv "$tmp/full"
    [ -c "$tmp/null" ] && [ -c "$tmp/full" ] && ok "the device nodes are still devices" \
        || fail "a device node was replaced"
fi

# ---- outputs are checked before the first step ----
mkdir "$tmp/adir"
refused "--csv a directory" "cannot write $tmp/adir: it is a directory" 1 \
    run --stack "$STACK" "${TINY[@]}" --epochs 1 --csv "$tmp/adir"
refused "--result a directory" "it is a directory" 1 \
    run --stack "$STACK" "${TINY[@]}" --epochs 1 --result "$tmp/adir"
refused "--result in a missing directory" "$tmp/missing/r.result: No such file" 1 \
    run --stack "$STACK" "${TINY[@]}" --epochs 1 --result "$tmp/missing/r.result"
# /proc/self cannot take a new file, even as root
refused "--result in an unwritable directory" "cannot create /proc/self/r.result" 1 \
    run --stack "$STACK" "${TINY[@]}" --epochs 1 --result /proc/self/r.result
refused "mad --out an unwritable directory" "cannot create /proc/self/mad.csv" 1 \
    mad --stack "$STACK" --protocol quick --out /proc/self
if [ "$(id -u)" != 0 ]; then
    "$MADLAB" mad --stack "$STACK" --protocol quick --out "$tmp/ro" --emit-jobs >/dev/null 2>&1
    chmod 555 "$tmp/ro"
    refused "mad --out a directory made read-only" "cannot create $tmp/ro/mad.csv" 1 \
        mad --stack "$STACK" --protocol quick --out "$tmp/ro"
    chmod 755 "$tmp/ro"
fi

# ---- shared directories ----
# two madlab mad started together on a fresh directory: both claim it, one mad.run
bad=0
for i in 1 2 3 4 5 6 7 8; do
    d="$tmp/shared$i/a/b"
    "$MADLAB" mad --stack "$STACK" --protocol quick --out "$d" --emit-jobs >/dev/null 2>"$tmp/e1" &
    p1=$!
    "$MADLAB" mad --stack "$STACK" --protocol quick --out "$d" --emit-jobs >/dev/null 2>"$tmp/e2" &
    p2=$!
    wait $p1 || { bad=1; cat "$tmp/e1"; }
    wait $p2 || { bad=1; cat "$tmp/e2"; }
    [ "$(ls -A "$d" | grep -vc '^mad.run$')" -eq 0 ] || { bad=1; ls -A "$d"; }
done
[ $bad -eq 0 ] && ok "two madlab mad on a fresh directory both start (8 times)" || fail "shared fresh directory"
# a different model started together with it: exactly one claims the directory
bad=0
for i in 1 2 3 4 5 6; do
    d="$tmp/race$i"
    "$MADLAB" mad --stack "$STACK" --protocol quick --out "$d" --emit-jobs >/dev/null 2>"$tmp/e1" &
    p1=$!
    "$MADLAB" mad --stack "hyena swiglu" --protocol quick --out "$d" --emit-jobs >/dev/null 2>"$tmp/e2" &
    p2=$!
    wait $p1; s1=$?
    wait $p2; s2=$?
    [ $((s1 == 0)) -ne $((s2 == 0)) ] || { bad=1; echo "statuses $s1 $s2"; cat "$tmp/e1" "$tmp/e2"; }
    grep -q "holds results of the quick protocol" "$tmp/e1" "$tmp/e2" || { bad=1; cat "$tmp/e1" "$tmp/e2"; }
done
[ $bad -eq 0 ] && ok "two models on one fresh directory: exactly one claims it" || fail "claim race"
# two runs writing one --csv: each file whole, the last rename wins
"$MADLAB" run --stack "$STACK" "${TINY[@]}" --epochs 3 --seed 1 --csv "$tmp/same.csv" >/dev/null 2>&1 &
p1=$!
"$MADLAB" run --stack "$STACK" "${TINY[@]}" --epochs 2 --seed 2 --csv "$tmp/same.csv" >/dev/null 2>&1 &
p2=$!
wait $p1 && wait $p2 || fail "two runs on one --csv failed"
n=$(wc -l <"$tmp/same.csv")
h=$(grep -c 'train_loss' "$tmp/same.csv") # the header
if [ "$h" -eq 1 ] && { [ "$n" -eq 4 ] || [ "$n" -eq 3 ]; } && [ -z "$(find "$tmp" -name '.same.csv.*')" ]; then
    ok "two runs on one --csv: one whole file ($n lines)"
else
    fail "two runs on one --csv: $n lines, $h headers"; cat "$tmp/same.csv"
fi

# ---- --collect with a damaged mad.run never replaces mad.csv ----
q="$tmp/m2"
rm -rf "$r1" "$r2"
res=$(grep -- '--task in-context-recall ' "$tmp/jobs" | head -1 | grep -o "[^ ']*\.result")
printf 'task,score,settings\nmad,0.5,1\n' >"$q/mad.csv"
cp "$q/mad.csv" "$tmp/mad.csv.before"
head -c 30 "$q/mad.run" >"$tmp/cut" && cp "$tmp/cut" "$q/mad.run"
refused "collect with a cut mad.run" "mad.run:[0-9]*: truncated" 1 mad --collect "$q"
cmp -s "$q/mad.csv" "$tmp/mad.csv.before" && ok "a cut mad.run leaves mad.csv" || fail "mad.csv replaced"
# an edited mad.run that parses but matches none of the results
cat >"$q/mad.run" <<'EOF'
madlab-mad 1
protocol quick
width 64
norm rmsnorm
stack mh-attention swiglu
end
EOF
cat >"$res" <<EOF
madlab-result 1
task in-context-recall
setting x
vocab 16
seq_len 64
n_train 64
n_test 16
frac_noise 0
noise_vocab 0
k_motif 1
v_motif 1
n_copy 16
multi_query 1
lr 0.001
wd 0
epochs 1
batch 8
stop_acc 0.999
seed 1
width 128
norm rmsnorm
stack mh-attention swiglu
best_test_acc 0.5
best_test_acc_micro 0.5
best_test_loss 1
best_epoch 1
max_test_acc 0.5
max_epoch 1
epochs_run 1
stopped_early 0
diverged 0
seconds 1
end
EOF
refused "collect with a mad.run matching no result" "mad.run .* matches none of the 1 result files" 1 \
    mad --collect "$q"
cmp -s "$q/mad.csv" "$tmp/mad.csv.before" && ok "an edited mad.run leaves mad.csv" \
    || fail "collect wrote $(cat "$q/mad.csv")"
rm "$res"
"$MADLAB" mad --collect "$q" >"$tmp/out" 2>&1
cmp -s "$q/mad.csv" "$tmp/mad.csv.before" && grep -q "nothing to score" "$tmp/out" \
    && ok "collect with no finished run leaves mad.csv" || fail "collect of nothing: $(cat "$q/mad.csv")"

# ---- standard output on a full disk ----
if [ -w /dev/full ]; then
    for cmd in "--version" "--help" "keys" "tasks" "layers"; do
        "$MADLAB" $cmd >/dev/full 2>"$tmp/err"
        rc=$?
        [ $rc -eq 1 ] && grep -q "cannot write standard output: disk full" "$tmp/err" \
            && ok "$cmd >/dev/full fails" || fail "$cmd >/dev/full: status $rc $(cat "$tmp/err")"
    done
    "$MADLAB" mad --stack "$STACK" --out "$tmp/full-jobs" --emit-jobs >/dev/full 2>"$tmp/err"
    rc=$?
    [ $rc -eq 1 ] && grep -q "disk full" "$tmp/err" && ! grep -q "runs to do" "$tmp/err" \
        && ok "--emit-jobs >/dev/full fails" || fail "--emit-jobs >/dev/full: status $rc $(cat "$tmp/err")"
fi

# ---- one limit for the stack text ----
long=""
for i in $(seq 64); do long="$long sliding-attention(window=3)"; done
refused "a 64-layer stack too long for run --result" "the stack is too long" 2 \
    run --stack "$long" "${TINY[@]}" --epochs 1 --result "$tmp/long.result"
[ ! -e "$tmp/long.result" ] || fail "a result file was written for the long stack"
msg_run=$(cat "$tmp/err")
refused "the same stack for mad" "the stack is too long" 2 mad --stack "$long" --out "$tmp/long"
[ "${msg_run#madlab run: }" = "$(sed 's/^madlab mad: //' "$tmp/err")" ] && ok "run and mad: one message" \
    || fail "two messages: '$msg_run' vs '$(cat "$tmp/err")'"

# ---- messages and statuses ----
refused "--preset ''" "empty preset name; available: .*default" 2 run --preset '' --task in-context-recall
printf 'description: cr only\rstack: mh-attention swiglu\rwidth: 32\r' >"$tmp/cr.preset"
timeout 60 "$MADLAB" run --preset "$tmp/cr.preset" --task in-context-recall --vocab 8 --seq-len 16 \
    --train 32 --test 16 --batch 16 --epochs 1 --threads 1 >"$tmp/out" 2>"$tmp/err" \
    && grep -q "width 32" "$tmp/out" && ok "a preset with CR line endings is read" \
    || { fail "CR preset"; cat "$tmp/err"; }
refused "--help with a stray word" "unexpected argument 'x'" 2 --help x
refused "--version with a stray word" "unexpected argument 'x'" 2 --version x
refused "keys with a stray word" "unexpected argument 'x'" 2 keys x
for opt in "--protocol quick" "--width 64" "--norm layernorm" "--threads 2" "--emit-jobs"; do
    refused "mad --collect $opt" "takes no other options" 2 mad --collect "$q" $opt
done
refused "compression at an odd width" "even width" 2 run --stack mlp --task compression --width 9
nl="$tmp/new
line"
"$MADLAB" mad --stack "$STACK" --protocol quick --out "$nl" --emit-jobs >"$tmp/nljobs" 2>/dev/null
n=$(wc -l <"$tmp/nljobs")
for shell in bash sh; do
    got=$(head -1 "$tmp/nljobs" | $shell -c 'read -r l; eval "set -- $l"; for a; do [ "${a%.result}" != "$a" ] && printf %s "${a%/*}"; done')
    if [ "$n" -eq 6 ] && [ "$got" = "$nl" ]; then
        ok "--emit-jobs quotes a directory with a newline: one line per job ($shell reads it)"
    else
        fail "--emit-jobs with a newline: $n lines, $shell reads dir '$got'"; head -2 "$tmp/nljobs"
    fi
done
# a diverged run with --result: the result is written and counted, status 0
# (lr 10 with wd 10: each step scales the weights by 1 - 100, so they overflow within an epoch)
"$MADLAB" run --stack mlp --width 32 --task in-context-recall --vocab 8 --seq-len 16 --train 256 \
    --test 16 --batch 8 --threads 1 --epochs 3 --lr 10 --wd 10 --result "$tmp/div.result" >"$tmp/out" 2>"$tmp/err"
rc=$?
if grep -q "diverged" "$tmp/err" || [ $rc -ne 0 ]; then
    [ $rc -eq 0 ] && grep -q "^diverged 1" "$tmp/div.result" && grep -q "madlab mad counts" "$tmp/err" \
        && ok "diverged --result: written, status 0" || fail "diverged --result: status $rc"
else
    ok "lr 10 did not diverge on this machine (skipped)"
fi

# ---- the lab's terminal ----
if command -v tmux >/dev/null 2>&1; then
    n_lab=0
    lab() { # lab TERM COLS ROWS: start the lab in a fresh server (reusing one races its exit)
        $T kill-server 2>/dev/null
        n_lab=$((n_lab + 1))
        T="tmux -L $S-$n_lab -f /dev/null"
        $T new-session -d -s "$S" -x "$2" -y "$3" \
            "TERM=$1 LANG=C.UTF-8 '$MADLAB' --threads 1; rc=\$?; stty -a; echo LAB-EXITED rc=\$rc; sleep 30"
    }
    cap() { $T capture-pane -p -J -S -200 -t "$S" 2>/dev/null; }
    wait_for() {
        local i
        for ((i = 0; i < ${2:-10} * 10; i++)); do
            cap | grep -Eq -- "$1" && return 0
            sleep 0.1
        done
        return 1
    }
    lab dumb 100 30
    wait_for "LAB-EXITED" 10 && cap | grep -q "rc=2" && cap | grep -q "cannot move the cursor" \
        && ok "TERM=dumb refused, status 2" || { fail "TERM=dumb"; cap; }
    lab xterm-256color 40 10
    wait_for "LAB-EXITED" 10 && cap | grep -q "rc=2" && cap | grep -q "is 40x10; the lab needs" \
        && ok "a terminal too small at start: status 2" || { fail "too small at start"; cap; }
    lab xterm-256color 120 40
    if wait_for "Stack" 10; then
        cap | grep -q "run #1" && fail "the first frame shows a run: $(cap | grep 'run #')" \
            || ok "the first frame shows no run"
        $T send-keys -t "$S" 'C-\'
        wait_for "LAB-EXITED" 10 && cap | grep -q "rc=131" && cap | grep -Eq "(^| )icanon" &&
            cap | grep -Eq "(^| )echo( |$)" && ok "Ctrl-\\ restores the terminal (status 131)" \
            || { fail "SIGQUIT"; cap; }
    else
        fail "the lab did not start"; cap
    fi
else
    echo "tmux not installed: lab checks skipped"
fi

[ $fails -eq 0 ] && echo "all hostile-input checks passed" || echo "$fails failed"
[ $fails -eq 0 ]
