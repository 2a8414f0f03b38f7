#!/bin/sh
# Appends each hook run's payload to hooks/runs.log, one JSON object a line.
set -e
payload=$(cat)
echo "$payload" >> "$(dirname "$0")/runs.log"
echo "$BLUEJAY_HOOK for $BLUEJAY_SERVICE $BLUEJAY_FROM -> $BLUEJAY_TO ($BLUEJAY_PHASE) logged"
