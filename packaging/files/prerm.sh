#!/bin/sh
# Tandem's pre-removal: stop the system service before its binary goes.
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
	systemctl stop tandem.service >/dev/null 2>&1 || true
	systemctl disable tandem.service >/dev/null 2>&1 || true
fi
exit 0
