#!/usr/bin/env bash
# See docs_test.py.
exec /usr/bin/python3 "$(dirname "$0")/docs_test.py" --self_test_misspelt_flag "$@"
