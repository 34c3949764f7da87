#!/bin/sh
# Times training steps for the shipped presets and a few stacks, one line each, so a change
# can be measured before and after on the same machine:
#   bench/stacks.sh [MADLAB] [extra bench options, e.g. --seq-len 256 --threads 1]
# Speed is measured here, never in `make check`.
madlab=${1:-./madlab}
[ $# -gt 0 ] && shift
for stack in "mh-attention swiglu mh-attention swiglu" "attention swiglu attention swiglu" \
             "mh-attention mlp mh-attention mlp" "swiglu swiglu swiglu swiglu"; do
    line=$("$madlab" bench --stack "$stack" --batch 128 --seq-len 128 --steps 5 "$@" | tail -n 1)
    printf '%-45s %s\n' "$stack" "$line"
done
