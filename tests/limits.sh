#!/bin/sh
# The command line at the limits of each option's range: the largest widths, lengths, batches
# and vocabularies are accepted and counted without overflow (the sanitizer build turns a signed
# overflow into a crash), one past the limit is refused in one line, and a model or data set
# larger than the machine's memory is refused before training, in one line, without a crash.
: "${MADLAB:=./madlab}"
fails=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*"; cat "$tmp/out" "$tmp/err"; fails=$((fails + 1)); }

# expect_fail NAME PATTERN ARGS...: exit status 1 or 2, one stderr line matching PATTERN.
expect_fail() {
    name=$1 pattern=$2
    shift 2
    "$MADLAB" "$@" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    if [ "$rc" -ne 1 ] && [ "$rc" -ne 2 ]; then fail "$name: exit status $rc"
    elif [ "$(wc -l <"$tmp/err")" -ne 1 ] || ! grep -q -- "$pattern" "$tmp/err"; then
        fail "$name: stderr is not one line matching '$pattern'"
    else echo "ok: $name: $(cat "$tmp/err")"
    fi
}

# layers at every corner of --width and --seq-len, the largest vocab: every kind listed, every
# count a plain non-negative number (no nan, inf or negative count)
for w in 8 4096; do
    for L in 1 46340 46341 65536; do
        name="layers --width $w --seq-len $L --vocab 1048576"
        if ! "$MADLAB" layers --width "$w" --seq-len "$L" --vocab 1048576 >"$tmp/out" 2>"$tmp/err"; then
            fail "$name: exit status $?"
        elif [ "$(grep -c -E '^[a-z0-9-]+ +(sequence|channel|embedding|norm|head) ' "$tmp/out")" -lt 20 ]; then
            fail "$name: kinds missing"
        elif grep -E '^[a-z0-9-]+ +(sequence|channel|embedding|norm|head) ' "$tmp/out" |
                 grep -q -i -E 'nan|inf| -[0-9]'; then
            fail "$name: a count is not a number"
        else
            echo "ok: $name"
        fi
    done
done

# the flop count per token grows with the length (a wrapped int count shrinks)
"$MADLAB" layers --width 64 --seq-len 32768 >"$tmp/a" 2>/dev/null
"$MADLAB" layers --width 64 --seq-len 65536 >"$tmp/b" 2>/dev/null
for k in attention mh-attention hyena mh-hyena; do
    a=$(awk -v k="$k" '$1 == k && $2 == "sequence" { print $5 }' "$tmp/a")
    b=$(awk -v k="$k" '$1 == k && $2 == "sequence" { print $5 }' "$tmp/b")
    # counts print as 1.23M, 45.6k, ...: compare as numbers
    to_num() { echo "$1" | awk '{ v = $1 + 0; u = substr($1, length($1)); if (u == "k") v *= 1e3;
                                  if (u == "M") v *= 1e6; if (u == "G") v *= 1e9; if (u == "T") v *= 1e12; print v }'; }
    if [ -n "$a" ] && awk -v a="$(to_num "$a")" -v b="$(to_num "$b")" 'BEGIN { exit !(b > a) }'; then
        echo "ok: $k flops/token at 65536 ($b) > at 32768 ($a)"
    else
        echo "FAIL: $k flops/token at 65536 ($b) not above 32768 ($a)"; fails=$((fails + 1))
    fi
done

# one past each limit
expect_fail "--seq-len past 65536" "seq-len" layers --seq-len 65537
expect_fail "--width past 4096" "width" layers --width 4097
expect_fail "--batch past 65536" "batch" bench --stack mlp --batch 65537
expect_fail "--vocab past 2^20" "vocab" bench --stack mlp --vocab 1048577
expect_fail "window past 65536" "window" bench --stack "sliding-attention(window=65537)" --steps 1

# larger than any machine: refused before anything is allocated or trained
expect_fail "bench at the largest batch, length and width" "needs .* GiB" \
    bench --stack mlp --batch 65536 --seq-len 65536 --width 4096 --steps 1
expect_fail "bench at the largest vocab and length" "needs .* GiB" \
    bench --stack mlp --batch 1024 --seq-len 65536 --vocab 1048576 --steps 1
expect_fail "run with the largest train set" "out of memory for the train set" \
    run --task in-context-recall --seq-len 65536 --train 16777216 --stack mlp --width 8 --epochs 1

# the largest window and knobs at their maxima train at a small size
if "$MADLAB" bench --stack "sliding-attention(window=65536) mlp(inner=8192)" --batch 1 \
       --seq-len 64 --width 8 --steps 1 --warmup 0 --threads 1 >"$tmp/out" 2>"$tmp/err"; then
    echo "ok: window=65536 and inner=8192 train"
else
    fail "window=65536 and inner=8192: exit status $?"
fi

[ "$fails" -eq 0 ] && echo "all limits ok" || echo "$fails failed"
[ "$fails" -eq 0 ]
