#!/bin/sh
# One line per shipped preset: mfu, ms/step and tokens/s on 1 and on 2 threads, and the
# speed-up of 2 threads over 1, so that a change can be measured before and after in one run:
#   bench/presets.sh [MADLAB] [extra bench options, e.g. --batch 32 --seq-len 32 --steps 10]
#   PRESETS="mamba rwkv6" bench/presets.sh ./madlab          (only these presets)
# mfu divides the model's FLOP rate by the same run's sgemm rate, so it is the figure to compare
# on a shared machine. Speed is measured here, never in `make check`.
madlab=${1:-./madlab}
[ $# -gt 0 ] && shift
dir=$(dirname "$0")/../presets
presets=${PRESETS:-$(for f in "$dir"/*.preset; do basename "$f" .preset; done)}
field() { printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"; }
printf '%-26s %6s %9s %8s   %6s %9s %8s   %5s\n' preset mfu1 ms/step1 tok/s1 mfu2 ms/step2 tok/s2 2t/1t
for p in $presets; do
    l1=$("$madlab" bench --preset "$p" --batch 128 --seq-len 128 --steps 5 "$@" --threads 1 | tail -n 1)
    l2=$("$madlab" bench --preset "$p" --batch 128 --seq-len 128 --steps 5 "$@" --threads 2 | tail -n 1)
    m1=$(field "$l1" ms_per_step) m2=$(field "$l2" ms_per_step)
    printf '%-26s %6s %9s %8s   %6s %9s %8s   %5s\n' "$p" "$(field "$l1" mfu)" "$m1" \
        "$(field "$l1" tokens_per_s)" "$(field "$l2" mfu)" "$m2" "$(field "$l2" tokens_per_s)" \
        "$(awk -v a="$m1" -v b="$m2" 'BEGIN { if (b > 0) printf "%.2f", a / b }')"
done
