#!/bin/sh
# Set up what a fresh Debian machine lacks (make, python3-venv), then hand over to the Makefile.
#   sh dev.sh demo   run mailtls on the bundled broken mail server
#   sh dev.sh test   install everything (Debian's dovecot and postfix too) and run the test suite
set -eu
missing=""
command -v make >/dev/null 2>&1 || missing="$missing make"
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing="$missing python3-venv"
if [ -n "$missing" ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing
fi
cd "$(dirname "$0")"
exec make "$@"
