#!/bin/sh
# Regenerate the build system (configure, Makefile.in, build-aux/*).
# Needs: autoconf automake pkgconf (see build-aux/debian-packages).
set -e
cd "$(dirname "$0")"
for tool in autoreconf aclocal automake pkg-config; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "autogen.sh: '$tool' not found; install the packages listed in build-aux/debian-packages" >&2
        exit 1
    fi
done
autoreconf --force --install --verbose "$@"
echo "autogen.sh: now run ./configure && make && make check"
