#!/bin/sh
# madlab mad without training: --emit-jobs lists the runs to do, --collect scores a partial
# directory and names what is missing or broken, a directory refuses another model or protocol.
: "${MADLAB:=./madlab}"
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

S="mh-attention swiglu mh-attention swiglu"

# the full protocol: 396 job lines, each a madlab run writing its result into the directory
"$MADLAB" mad --stack "$S" --out "$tmp/full" --emit-jobs >"$tmp/jobs" 2>"$tmp/err" || fail "emit-jobs exit"
n=$(wc -l <"$tmp/jobs")
m=$(grep -c 'madlab.* run .*--result .*\.result$' "$tmp/jobs")
if [ "$n" -eq 396 ] && [ "$m" -eq 396 ]; then ok "full: 396 jobs"; else fail "full: $n lines, $m jobs"; fi
grep -q -- "--task selective-copying --vocab 16 --seq-len 256 .*--n-copy 96 .*--lr 0.0001 --wd 0.1 " "$tmp/jobs" \
    && ok "a job carries its setting's knobs" || fail "selective-copying n-copy-96 job: $(grep n-copy-96 "$tmp/jobs" | head -1)"
grep -q "396 of 396 runs to do" "$tmp/err" || fail "emit-jobs summary: $(cat "$tmp/err")"

# the quick protocol in its own directory: one hand-written result, one truncated
q="$tmp/quick"
"$MADLAB" mad --stack "$S" --protocol quick --out "$q" --emit-jobs >"$tmp/qjobs" 2>/dev/null || fail "quick emit-jobs"
nq=$(wc -l <"$tmp/qjobs")
set -- $(grep -- '--task in-context-recall ' "$tmp/qjobs")
# pick the knobs of the in-context-recall job to write its result by hand
vocab= seq= train= test= epochs= batch= lr= wd=
while [ $# -gt 0 ]; do
    case $1 in
    --vocab) vocab=$2 ;; --seq-len) seq=$2 ;; --train) train=$2 ;; --test) test=$2 ;;
    --epochs) epochs=$2 ;; --batch) batch=$2 ;; --lr) lr=$2 ;; --wd) wd=$2 ;;
    --result) result=$2 ;;
    esac
    shift
done
cat >"$result" <<EOF
madlab-result 1
task in-context-recall
setting quick
vocab $vocab
seq_len $seq
n_train $train
n_test $test
frac_noise 0
noise_vocab 0
k_motif 1
v_motif 1
n_copy 0
multi_query 1
lr $lr
wd $wd
epochs $epochs
batch $batch
stop_acc 0.999
seed 12345
width 128
norm rmsnorm
stack $S
best_test_acc 0.875
best_test_acc_micro 0.9
best_test_loss 0.25
best_epoch 7
max_test_acc 0.875
max_epoch 7
epochs_run 7
stopped_early 0
diverged 0
seconds 12.5
end
EOF
broken=$(sed -n 's/.*--result \(.*memorization.*\.result\)$/\1/p' "$tmp/qjobs")
head -5 "$result" >"$broken"
"$MADLAB" mad --collect "$q" >"$tmp/out" 2>"$tmp/err" || fail "collect exit"
grep -q "^in-context-recall  *0.8750  1/1" "$tmp/out" && ok "collect: the finished run's score" \
    || { fail "collect table"; cat "$tmp/out"; }
grep -q "^mad  *0.8750  1/6" "$tmp/out" && ok "collect: MAD over what is there" || fail "collect mad row"
grep -q "partial: 1 of $nq runs done" "$tmp/out" && ok "collect says partial" || fail "collect partial"
missing=$(grep -c '^  [a-z-]*_quick_lr-' "$tmp/out")
[ "$missing" -eq $((nq - 1)) ] && ok "collect lists $missing missing runs" || fail "missing list: $missing"
grep -q "$(basename "$broken").*truncated" "$tmp/err" && ok "truncated file named: $(cat "$tmp/err")" \
    || fail "truncated file not reported: $(cat "$tmp/err")"
[ "$(head -1 "$q/mad.csv")" = "task,score,settings" ] && grep -q "^in-context-recall,0.875,1$" "$q/mad.csv" \
    && grep -q "^mad,0.875,1$" "$q/mad.csv" && ok "mad.csv" || { fail "mad.csv"; cat "$q/mad.csv"; }
grep -q "^in-context-recall,quick,$vocab,$seq,$train,$test,.*,0.875,1$" "$q/settings.csv" && ok "settings.csv" \
    || { fail "settings.csv"; cat "$q/settings.csv"; }

# resume: the jobs left are the runs without a valid result
"$MADLAB" mad --stack "$S" --protocol quick --out "$q" --emit-jobs >"$tmp/qjobs2" 2>/dev/null
n2=$(wc -l <"$tmp/qjobs2")
[ "$n2" -eq $((nq - 1)) ] && ! grep -q -- "--task in-context-recall " "$tmp/qjobs2" \
    && ok "emit-jobs skips the done run" || fail "emit-jobs after one result: $n2 lines"

# a directory belongs to one model and protocol
expect_fail() {
    name=$1 pattern=$2
    shift 2
    "$MADLAB" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -eq 0 ] || [ "$rc" -ge 128 ] || [ "$(wc -l <"$tmp/err")" -ne 1 ] || ! grep -q -- "$pattern" "$tmp/err"; then
        fail "$name: rc=$rc: $(cat "$tmp/err")"
    else
        ok "$name: $(cat "$tmp/err")"
    fi
}
expect_fail "other stack" "another --out" mad --stack "mh-attention swiglu" --protocol quick --out "$q" --emit-jobs
expect_fail "other protocol" "another --out" mad --stack "$S" --protocol full --out "$q" --emit-jobs
expect_fail "unknown protocol" "unknown protocol" mad --stack "$S" --protocol slow --out "$tmp/x"
expect_fail "no --out" "give --out" mad --stack "$S"
expect_fail "collect a plain dir" "mad.run" mad --collect "$tmp"
expect_fail "collect with a stack" "takes no other options" mad --collect "$q" --stack "$S"

[ "$fails" -eq 0 ] && echo "all mad tests passed" || echo "$fails mad test(s) failed"
[ "$fails" -eq 0 ]
