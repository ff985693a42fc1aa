#!/usr/bin/env bash
# See layering_test.py.
exec /usr/bin/python3 "$(dirname "$0")/layering_test.py" "$@"
