# Sourced by the tmux scripts that drive the lab (lab.sh, classroom.sh, state.sh). Before
# sourcing, set TEST_NAME (it names the private tmux socket). Gives $MADLAB
# as an absolute path, $tmp (removed at exit with the tmux server), $S and $T (the session and
# the tmux command; a script may point them at a fresh server), and cap, keys, wait_for, fail.
# Skips (77) where tmux is missing. A script may redefine cap or fail after sourcing.
: "${MADLAB:=./madlab}"
command -v tmux >/dev/null 2>&1 || { echo "tmux not installed: skipped"; exit 77; }
MADLAB=$(cd "$(dirname "$MADLAB")" && pwd)/$(basename "$MADLAB")
tmp=$(mktemp -d)
S=madlab-$TEST_NAME-$$
T="tmux -L $S -f /dev/null"
cleanup() { $T kill-server 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "---- screen ----"; cap; exit 1; }
cap() { $T capture-pane -p -t "$S" 2>/dev/null; }
keys() { $T send-keys -t "$S" "$@"; }
# wait_for PATTERN [SECONDS]: until the screen matches (grep -E)
wait_for() {
    local i
    for ((i = 0; i < ${2:-10} * 10; i++)); do
        cap | grep -Eq -- "$1" && return 0
        sleep 0.1
    done
    return 1
}
