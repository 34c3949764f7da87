#!/bin/sh
# The command line on good and bad input: every bad input is one clear line on stderr and a
# non-zero exit, never a crash (exit status >= 128 would be a signal).
: "${MADLAB:=./madlab}"
: "${top_srcdir:=.}"
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect_fail NAME PATTERN ARGS...: non-zero exit below 128, one stderr line matching PATTERN.
expect_fail() {
    name=$1 pattern=$2
    shift 2
    "$MADLAB" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    lines=$(wc -l <"$tmp/err")
    if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ] || [ "$lines" -ne 1 ] || ! grep -q -- "$pattern" "$tmp/err"; then
        echo "FAIL: $name: rc=$rc, stderr:"; cat "$tmp/err"; fails=$((fails + 1))
    else
        echo "ok: $name: $(cat "$tmp/err")"
    fi
}

expect_ok() {
    name=$1 pattern=$2
    shift 2
    if "$MADLAB" "$@" >"$tmp/out" 2>"$tmp/err" && grep -q -- "$pattern" "$tmp/out"; then
        echo "ok: $name"
    else
        echo "FAIL: $name"; cat "$tmp/out" "$tmp/err"; fails=$((fails + 1))
    fi
}

S="mh-attention swiglu"
expect_ok "--version" "madlab" --version
expect_ok "--help" "usage" --help
expect_ok "layers lists every kind" "mh-attention" layers --width 128 --seq-len 128
expect_fail "unknown command" "unknown command" frobnicate
expect_fail "the lab needs a terminal" "needs a terminal" lab
expect_fail "unknown lab option" "unknown lab option" lab --frob
expect_ok "keys lists the lab's keys" "quit" keys
expect_fail "unknown layer" "unknown layer" run --stack "mh-attention swigloo" --task in-context-recall
expect_fail "unknown task" "unknown task" run --stack "$S" --task no-such-task
expect_fail "malformed number" "not a whole number" run --stack "$S" --task in-context-recall --epochs 3x
expect_fail "malformed lr" "not a number" run --stack "$S" --task in-context-recall --lr fast
expect_fail "seq-len the task cannot fill" "seq" run --stack "$S" --task in-context-recall --seq-len 3
expect_fail "unwritable csv" "$tmp/missing/dir/log.csv" run --stack "$S" --task in-context-recall \
    --train 8 --test 8 --seq-len 16 --epochs 1 --csv "$tmp/missing/dir/log.csv"
expect_fail "stack and preset" "not both" run --stack "$S" --preset default --task in-context-recall
expect_fail "unknown preset" "no-such-preset" run --preset no-such-preset --task in-context-recall
printf 'description: broken\nstack: mh-attention swiglu\nwidht: 64\n' >"$tmp/bad.preset"
expect_fail "bad preset line" "bad.preset:3" run --preset "$tmp/bad.preset" --task in-context-recall
expect_fail "unknown option" "unknown" run --stack "$S" --task in-context-recall --frobnicate 1
expect_fail "stray word after bench options" "unexpected argument 'extra'" bench --stack "$S" extra
expect_fail "stray word after layers options" "unexpected argument 'extra'" layers --width 32 extra
expect_fail "unknown option of layers" "madlab layers: unknown or incomplete option" layers --frob
expect_fail "bench without a model" "no model" bench

# --fit-state: mamba, GLA and mh-hyena stacks land within 10% of the paper's 4096 floats, and
# of a budget their defaults miss; a target out of reach is refused with the nearest reachable
# totals; a stack whose state grows with length names the layers that grow.
for st in "mamba swiglu mamba swiglu" "mh-gated-linear-attention swiglu mh-gated-linear-attention swiglu" \
          "mh-hyena swiglu mh-hyena swiglu"; do
    for target in 4096 12000; do
        "$MADLAB" layers --fit-state $target --stack "$st" >"$tmp/out" 2>"$tmp/err"
        rc=$?
        got=$(tail -n 1 "$tmp/out" | sed -n 's/^state=\([0-9]*\) params=[0-9]* .*stack=".*"$/\1/p')
        if [ "$rc" -eq 0 ] && [ -n "$got" ] && awk -v x="$got" -v t=$target 'BEGIN{exit !(x >= 0.9*t && x <= 1.1*t)}'; then
            echo "ok: --fit-state $target on '$st': state=$got"
        else
            echo "FAIL: --fit-state $target on '$st': rc=$rc state=$got"; cat "$tmp/out" "$tmp/err"
            fails=$((fails + 1))
        fi
    done
done
expect_ok "--fit-state sets mamba's d_state" 'stack="mamba(d_state=' layers --fit-state 12000 --stack "mamba swiglu mamba swiglu"
expect_ok "--fit-state prints the stack before and after" "^after: " layers --fit-state 4096 --stack "mamba swiglu"
expect_fail "--fit-state out of reach" "nearest reachable: none below, 384 above" \
    layers --fit-state 100 --stack "mh-gated-linear-attention swiglu mamba"
expect_fail "--fit-state above every setting" "nearest reachable: [0-9]* below, none above" \
    layers --fit-state 10000000 --stack "mamba swiglu"
expect_fail "--fit-state with growing state" "layer(s) 1 mh-attention, 3 hyena grows with the sequence length" \
    layers --fit-state 4096 --stack "mh-attention swiglu hyena mamba"
expect_fail "--fit-state without a stateful layer" "no layer of the stack has a knob" layers --fit-state 4096 --stack swiglu
expect_fail "--fit-state without --stack" "needs --stack" layers --fit-state 4096
expect_fail "--fit-state below 1" "fit-state" layers --fit-state 0 --stack mamba

# A short real run writes the CSV with one row per epoch and the summary line.
"$MADLAB" run --stack "mh-attention swiglu" --width 32 --task in-context-recall --vocab 8 \
    --seq-len 16 --train 64 --test 16 --epochs 2 --batch 16 --threads 1 --csv "$tmp/log.csv" \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -eq 0 ] && grep -q "best_test_acc=" "$tmp/out" && grep -q "epochs=2" "$tmp/out" &&
   head -1 "$tmp/log.csv" | grep -q "epoch.*train_loss.*test_loss.*train_acc.*test_acc.*test_acc_micro.*lr.*seconds.*tokens_per_s" &&
   [ "$(wc -l <"$tmp/log.csv")" -eq 3 ] && [ ! -e "$tmp/log.csv.tmp" ] &&
   [ -z "$(find "$tmp" -name '.log.csv.*')" ]; then
    echo "ok: run writes summary and csv"
else
    echo "FAIL: run writes summary and csv (rc=$rc)"; cat "$tmp/out" "$tmp/err" "$tmp/log.csv"; fails=$((fails + 1))
fi

# A diverging run stops, says so, and still leaves a whole CSV.
"$MADLAB" run --stack "mh-attention swiglu" --width 32 --task in-context-recall --vocab 8 \
    --seq-len 16 --train 64 --test 16 --epochs 2 --batch 16 --lr 10 --csv "$tmp/nan.csv" \
    >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ $rc -ne 0 ] && [ $rc -lt 128 ] && grep -q "diverged" "$tmp/err"; then
    echo "ok: divergence reported: $(cat "$tmp/err")"
elif [ $rc -eq 0 ]; then
    echo "ok: lr 10 did not diverge on this machine (divergence is covered by check_train)"
else
    echo "FAIL: diverging run rc=$rc"; cat "$tmp/err"; fails=$((fails + 1))
fi

# The bench summary names its figures.
expect_ok "bench summary" "mfu=" bench --stack "mh-attention swiglu" --width 32 --batch 4 --seq-len 16 --steps 1 --warmup 0 --threads 1

# The six tasks: listed, sampled, refused when a combination cannot be generated, trained briefly.
"$MADLAB" tasks >"$tmp/tasks" 2>"$tmp/err"
for t in in-context-recall noisy-in-context-recall fuzzy-in-context-recall selective-copying \
         compression memorization; do
    if grep -q "^$t " "$tmp/tasks"; then echo "ok: tasks lists $t"; else
        echo "FAIL: tasks does not list $t"; fails=$((fails + 1)); fi
done
expect_ok "tasks shows defaults" "--n-copy 16" tasks
expect_ok "sample in-context-recall" "sequence 3" sample --task in-context-recall --color never
expect_ok "sample noisy-in-context-recall" "~" sample --task noisy-in-context-recall --n 2
expect_ok "sample fuzzy-in-context-recall" "_15" sample --task fuzzy-in-context-recall --test --train 50
expect_ok "sample selective-copying" "#15" sample --task selective-copying --n 1 --seq-len 40 --n-copy 8
expect_ok "sample compression" "\[=" sample --task compression --n 1 --test --train 10
expect_ok "sample memorization" "#8191\[=" sample --task memorization --vocab 8192 --n 1
expect_ok "sample colour" "$(printf '\033')" sample --task in-context-recall --n 1 --seq-len 8 --color always
expect_fail "selective-copying too short" "seq_len > 2\*n_copy+1 = 33" sample --task selective-copying --seq-len 32
expect_fail "recall odd length" "odd" sample --task in-context-recall --seq-len 9
expect_fail "fuzzy motifs too big" "k_motif" run --stack "$S" --task fuzzy-in-context-recall --vocab 8 --k-motif 4
expect_fail "knob of another task" "does not apply" run --stack "$S" --task in-context-recall --n-copy 4
expect_fail "malformed frac-noise" "not a number" run --stack "$S" --task noisy-in-context-recall --frac-noise 0.2x
expect_fail "noise without noise tokens" "noise_vocab" run --stack "$S" --task in-context-recall --frac-noise 0.2
expect_fail "sample unknown task" "unknown task" sample --task nope
expect_fail "sample bad colour" "auto, always or never" sample --task compression --color pink

smoke() {
    name=$1
    shift
    if "$MADLAB" run --stack "mh-attention swiglu" --width 32 --train 64 --test 16 --epochs 2 \
        --batch 16 --threads 1 "$@" >"$tmp/out" 2>"$tmp/err" && grep -q "epochs=2" "$tmp/out"; then
        echo "ok: smoke run $name: $(grep summary "$tmp/out")"
    else
        echo "FAIL: smoke run $name"; cat "$tmp/out" "$tmp/err"; fails=$((fails + 1))
    fi
}
smoke noisy-in-context-recall --task noisy-in-context-recall --vocab 12 --noise-vocab 4 --seq-len 16
smoke fuzzy-in-context-recall --task fuzzy-in-context-recall --seq-len 32
smoke selective-copying --task selective-copying --seq-len 24 --n-copy 4
smoke compression --task compression --seq-len 8
smoke memorization --task memorization --vocab 32 --seq-len 8
"$MADLAB" run --stack "mlp" --width 32 --task compression --seq-len 8 --train 16 --test 8 \
    --epochs 1 --batch 8 --threads 1 >"$tmp/out" 2>&1
if grep -q "backbone autoencoder" "$tmp/out"; then echo "ok: compression trains the autoencoder"; else
    echo "FAIL: compression does not say it trains the autoencoder"; cat "$tmp/out"; fails=$((fails + 1)); fi

# Mixtures of experts: impossible knobs are refused; runs print the expert load per epoch.
expect_fail "top_k above experts" "top_k=9 exceeds experts=8" run --stack "moe-mlp(top_k=9)" --task in-context-recall
expect_fail "mh-hyena head" "multiple of 4 and of head=12" bench --stack "mh-hyena(head=12)"
expect_ok "expert load line" "layer 2 moe-mlp: expert load" run --stack "hyena-experts moe-mlp" --width 32 \
    --task in-context-recall --vocab 8 --seq-len 16 --train 32 --test 16 --epochs 1 --batch 16 --threads 1
# The routing knob: a word, listed with both values for both kinds, each routing's FLOPs on
# its own line; topk costs moe-mlp fewer FLOPs than the reference's dense routing.
expect_fail "routing word" "routing=dense is not a choice; use one of reference|topk" run \
    --stack "moe-mlp(routing=dense)" --task in-context-recall
"$MADLAB" layers --width 128 --seq-len 128 >"$tmp/layers" 2>&1
for k in moe-mlp hyena-experts; do
    if grep -q "^$k .*routing=reference|topk" "$tmp/layers"; then echo "ok: layers shows $k routing"; else
        echo "FAIL: layers does not show $k's routing"; cat "$tmp/layers"; fails=$((fails + 1)); fi
done
flops() { awk -v k="$1" '$1 == k { f = 1; next } f && $1 == "routing=topk" { print "topk", $5; exit } 
                         f { exit }' "$tmp/layers"; }
ref=$(awk '$1 == "moe-mlp" { print $5; exit }' "$tmp/layers")
topk=$(flops moe-mlp | cut -d' ' -f2)
if awk -v a="${ref%k}" -v b="${topk%k}" 'BEGIN { exit !(b > 0 && a > 2 * b) }'; then
    echo "ok: moe-mlp flops per token: reference $ref, topk $topk"
else
    echo "FAIL: moe-mlp flops per token: reference '$ref', topk '$topk'"; fails=$((fails + 1))
fi
expect_ok "topk run" "layer 2 moe-mlp: expert load" run --stack "hyena-experts(routing=topk) moe-mlp(routing=topk)" \
    --width 32 --task in-context-recall --vocab 8 --seq-len 16 --train 32 --test 16 --epochs 1 --batch 16 --threads 1

# The command table (src/commands.c) against man/madlab.1: the commands --help lists (it is
# printed from the table) are the COMMANDS subsections and the SYNOPSIS lines, in the same order,
# and the unknown-command error names them all.
table=$("$MADLAB" --help | sed -n '/^commands:/,/^$/p' | sed -n 's/^  \([a-z][a-z-]*\) .*/\1/p' | tr '\n' ' ')
man_cmds=$(sed -n '/^\.SH COMMANDS/,/^\.SH [^C]/p' "$top_srcdir/man/madlab.1" |
    sed -n 's/^\.SS \([a-z][a-z-]*\)$/\1/p' | tr '\n' ' ')
synopsis=$(sed -n '/^\.SH SYNOPSIS/,/^\.SH DESCRIPTION/p' "$top_srcdir/man/madlab.1" |
    sed -n -e 's/^\.RB \[ \(lab\) \]$/\1/p' -e 's/^\.B madlab \([a-z][a-z-]*\).*/\1/p' | uniq | tr '\n' ' ')
"$MADLAB" no-such-command 2>"$tmp/err"
listed=$(sed -n 's/.*(commands: \([^;]*\);.*/\1/p' "$tmp/err" | sed 's/, / /g')
if [ -n "$table" ] && [ "$table" = "$man_cmds" ] && [ "$table" = "$synopsis" ] &&
   [ "$table" = "$listed " ]; then
    echo "ok: the man page lists the command table: $table"
else
    echo "FAIL: command table and man page differ"
    echo "  table (--help):     $table"; echo "  man COMMANDS:       $man_cmds"
    echo "  man SYNOPSIS:       $synopsis"; echo "  unknown-command:    $listed"
    fails=$((fails + 1))
fi

# The README's install command hands build-aux/debian-packages to xargs: one package name a line,
# nothing else (a comment's words would reach apt-get as package names).
bad=$(grep -nvE '^[a-z0-9][a-z0-9.+-]*$' "$top_srcdir/build-aux/debian-packages")
if [ -z "$bad" ]; then
    echo "ok: build-aux/debian-packages holds one package name a line"
else
    echo "FAIL: build-aux/debian-packages lines that are not a bare package name: $bad"
    fails=$((fails + 1))
fi

echo "cli: $fails failed"
[ "$fails" -eq 0 ]
