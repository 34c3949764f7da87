#!/bin/bash
# madlab scale end to end on a tiny generated corpus: --plan, both CSVs and the summary line,
# --emit-jobs and --job, --collect, resume after a killed run, a directory that refuses another
# stack, and each bad input as one clear line with a non-zero exit.
: "${MADLAB:=./madlab}"
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# 200 kB of pseudo-text: words from a small vocabulary, so there is something to learn
awk 'BEGIN { srand(7); split("the of and a to in is was that he for it with as his on be at by", w, " ");
             for (i = 0; i < 40000; i++) printf "%s%s", w[int(rand() * 19) + 1], (i % 12 == 11) ? ".\n" : " " }' \
    >"$tmp/corpus.txt"
S="mh-attention swiglu"
A=(--stack "$S" --corpus "$tmp/corpus.txt" --budgets 1e9,2e9 --sizes 3 --seq-len 32 --threads 1)

"$MADLAB" scale "${A[@]}" --plan >"$tmp/plan" 2>&1 || fail "plan exit: $(cat "$tmp/plan")"
grep -q "tokens@1e09" "$tmp/plan" && grep -q "^6 runs" <(grep runs "$tmp/plan" | sed 's/^ *//') \
    && ok "plan: per size tokens for each budget, 6 runs" || fail "plan: $(cat "$tmp/plan")"

# --emit-jobs, then one job by hand
d="$tmp/s"
"$MADLAB" scale "${A[@]}" --out "$d" --emit-jobs >"$tmp/jobs" 2>"$tmp/err" || fail "emit-jobs exit"
[ "$(grep -c -- ' scale --out .* --job C-' "$tmp/jobs")" -eq 6 ] && ok "emit-jobs: 6 job lines" \
    || fail "emit-jobs: $(cat "$tmp/jobs" "$tmp/err")"
job=$(head -n 1 "$tmp/jobs")
eval "$job" >"$tmp/job.out" 2>&1 || fail "job exit: $(cat "$tmp/job.out")"
[ "$(ls "$d"/*.result | wc -l)" -eq 1 ] && ok "a job writes its one result" || fail "job results: $(ls "$d")"
"$MADLAB" scale --collect "$d" >"$tmp/collect" 2>&1
grep -q "partial: 1 of 6 runs" "$tmp/collect" && grep -q "missing (5)" "$tmp/collect" \
    && ok "collect names what is missing" || fail "collect: $(cat "$tmp/collect")"

# a run killed part-way: what finished is kept, the rest runs on resume
"$MADLAB" scale "${A[@]}" --out "$d" >"$tmp/killed" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
    [ "$(ls "$d"/*.result 2>/dev/null | wc -l)" -ge 2 ] && break
    sleep 0.1
done
kill -KILL "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
had=$(ls "$d"/*.result | wc -l)
ls "$d"/*.tmp* >/dev/null 2>&1 && ls "$d" | grep -v '\.tmp' >/dev/null
"$MADLAB" scale "${A[@]}" --out "$d" >"$tmp/out" 2>&1 || fail "resume exit: $(cat "$tmp/out")"
grep -q "6 runs, $had done, $((6 - had)) to run" "$tmp/out" && ok "resume after a kill: $had kept" \
    || fail "resume: had $had: $(head -n 4 "$tmp/out")"
[ "$(grep -c '\] C-.*\.\.\.$' "$tmp/out")" -eq $((6 - had)) ] && ok "resume trains only the missing runs" \
    || fail "resume retrained: $(cat "$tmp/out")"
[ "$(wc -l <"$d/runs.csv")" -eq 7 ] && ok "runs.csv: 6 rows" || fail "runs.csv: $(cat "$d/runs.csv")"
[ "$(grep -c '^budget,' "$d/frontier.csv")" -eq 2 ] && grep -q '^a,' "$d/frontier.csv" \
    && ok "frontier.csv: a row per budget, then the exponents" || fail "frontier.csv: $(cat "$d/frontier.csv")"
last=$(tail -n 1 "$tmp/out")
case $last in
summary\ protocol=quick\ budgets=2\ runs=6/6\ a=*\ b=*\ loss_exp=*) ok "summary line" ;;
*) fail "summary: $last" ;;
esac
echo "$last" | grep -qiE "nan|inf" && fail "summary not finite: $last"
t0=$SECONDS
"$MADLAB" scale "${A[@]}" --out "$d" >"$tmp/again" 2>&1 || fail "second resume exit"
grep -q "6 runs, 6 done, 0 to run" "$tmp/again" && ok "a finished directory trains nothing" \
    || fail "again: $(cat "$tmp/again")"

# bad inputs: one line on stderr, a non-zero exit
bad() { # name, expected text, args...
    local name=$1 want=$2
    shift 2
    "$MADLAB" scale "$@" >/dev/null 2>"$tmp/e"
    local rc=$? n
    n=$(wc -l <"$tmp/e")
    if [ $rc -ne 0 ] && [ "$n" -eq 1 ] && grep -q -- "$want" "$tmp/e"; then ok "$name"
    else fail "$name: rc $rc, $n lines: $(cat "$tmp/e")"; fi
}
B=(--stack "$S" --budgets 1e9,2e9 --sizes 3 --seq-len 32 --threads 1)
bad "missing corpus" "cannot open corpus $tmp/nope.txt" "${B[@]}" --corpus "$tmp/nope.txt" --out "$tmp/b1"
: >"$tmp/empty.txt"
bad "empty corpus" "is empty" "${B[@]}" --corpus "$tmp/empty.txt" --out "$tmp/b2"
bad "unreadable corpus (a directory)" "not a regular file" "${B[@]}" --corpus "$tmp" --out "$tmp/b3"
head -c 100 "$tmp/corpus.txt" >"$tmp/small.txt"
bad "corpus too small" "has 100 bytes" "${B[@]}" --corpus "$tmp/small.txt" --out "$tmp/b4"
bad "budget too small" "too small for width" --stack "$S" --budgets 1e6 --sizes 3 --corpus "$tmp/corpus.txt" --out "$tmp/b5"
bad "ladder of one size" "ladder of 1 size" "${A[@]}" --sizes 1 --out "$tmp/b6"
bad "bad budgets" "--budgets" "${A[@]}" --budgets 2e9,1e9 --out "$tmp/b7"
bad "another stack in the directory" "use another --out DIR" --stack "hyena swiglu" --corpus "$tmp/corpus.txt" \
    --budgets 4e9,8e9 --sizes 3 --seq-len 32 --out "$d"
bad "collect of a non-scale directory" "scale.run not found" --collect "$tmp"
bad "compare of a non-scale directory" "scale.run not found" --compare "$tmp"

# the text task in madlab run and bench
"$MADLAB" run --stack "$S" --width 32 --task text --corpus "$tmp/corpus.txt" --seq-len 32 --train 64 \
    --test 16 --epochs 1 --threads 1 >"$tmp/run" 2>&1 || fail "run text exit: $(cat "$tmp/run")"
tail -n 1 "$tmp/run" | grep -q "^summary task=text .* bits_per_byte=[0-9.]* perplexity=[0-9.]*$" \
    && ok "run: bits_per_byte and perplexity" || fail "run text: $(tail -n 1 "$tmp/run")"
"$MADLAB" run --stack "$S" --task in-context-recall --corpus "$tmp/corpus.txt" >/dev/null 2>"$tmp/e"
[ $? -eq 2 ] && grep -q "applies to the text task only" "$tmp/e" && ok "--corpus refused for MAD tasks" \
    || fail "--corpus with recall: $(cat "$tmp/e")"
"$MADLAB" bench --stack "$S" --width 32 --task text --corpus "$tmp/corpus.txt" --batch 2 --seq-len 32 \
    --steps 1 --warmup 0 --threads 1 >"$tmp/bench" 2>&1 && grep -q "task text  vocab 256" "$tmp/bench" \
    && grep -q "mfu=" "$tmp/bench" && ok "bench --task text" || fail "bench text: $(cat "$tmp/bench")"

# --compare of the directory with itself beside a MAD directory made by hand is covered by
# check_scale's fits; here: one directory, no MAD score, the closing key=value line
"$MADLAB" scale --compare "$d" --csv "$tmp/cmp.csv" >"$tmp/cmp" 2>&1 || fail "compare exit: $(cat "$tmp/cmp")"
tail -n 1 "$tmp/cmp" | grep -q "^summary budget=2e09 stacks=1 c=.* spearman=" && [ -s "$tmp/cmp.csv" ] \
    && ok "compare: table, CSV and summary" || fail "compare: $(cat "$tmp/cmp")"

# --mad beside a scaling directory: a MAD directory with no finished run has no score yet
"$MADLAB" mad --stack "$S" --protocol quick --out "$tmp/m" --emit-jobs >/dev/null 2>&1 || fail "mad claim"
"$MADLAB" scale --compare "$d" --mad "$tmp/m" --csv "$tmp/cmp2.csv" >"$tmp/cmp2" 2>&1 \
    && tail -n 1 "$tmp/cmp2" | grep -q "mad_stacks=0$" && ok "compare --mad: an unscored MAD directory" \
    || fail "compare --mad: $(cat "$tmp/cmp2")"
bad "compare --mad of a missing directory" "mad.run not found" --compare "$d" --mad "$tmp/nomad"

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
