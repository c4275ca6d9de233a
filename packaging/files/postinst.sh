#!/bin/sh
# Tandem's post-installation: the service's user and the passphrase of its secrets file.
set -e

if [ "$1" = configure ]; then
	if ! getent passwd tandem >/dev/null; then
		if command -v systemd-sysusers >/dev/null 2>&1; then
			systemd-sysusers /usr/lib/sysusers.d/tandem.conf
		else
			useradd --system --user-group --home-dir /var/lib/tandem --no-create-home \
				--shell /usr/sbin/nologin --comment "Tandem sync agent" tandem
		fi
	fi
	if [ ! -e /etc/tandem/passphrase ]; then
		mkdir -p /etc/tandem
		umask 077
		head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >/etc/tandem/passphrase
		chmod 0600 /etc/tandem/passphrase
	fi
	if [ -d /run/systemd/system ]; then
		systemctl daemon-reload >/dev/null 2>&1 || true
		# An upgrade restarts a service that was running; a new install starts nothing.
		if [ -n "$2" ]; then
			systemctl try-restart tandem.service >/dev/null 2>&1 || true
		fi
	fi
fi
exit 0
