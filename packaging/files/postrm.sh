#!/bin/sh
# Tandem's post-removal: purge deletes the service's passphrase and data directory (its keys
# and queues); a plain remove keeps both.
set -e
if [ "$1" = purge ]; then
	rm -f /etc/tandem/passphrase
	rmdir /etc/tandem 2>/dev/null || true
	rm -rf /var/lib/tandem
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
