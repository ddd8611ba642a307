#!/usr/bin/env bash
# Installs the peers the network suites load or compare against, with apt,
# when they are missing:
#   wrk        the HTTP load generator of the `http` suite
#   golang-go  the Go toolchain that builds the Go servers (bench/go/)
#   strace     the syscall counter of the `syscalls` suite
# Everything else the suites need is built by cargo. Without these, the
# suites that need them print a note and skip the rows.
set -euo pipefail

want=()
command -v wrk >/dev/null || want+=(wrk)
command -v go >/dev/null || want+=(golang-go)
command -v strace >/dev/null || want+=(strace)

if [ ${#want[@]} -eq 0 ]; then
    echo "bench/setup.sh: wrk, go and strace are installed"
    exit 0
fi

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
echo "bench/setup.sh: installing ${want[*]}"
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${want[@]}"
