#!/usr/bin/env bash
# The servers the connector tests start on 127.0.0.1 that PyPI does not ship: dovecot (IMAP) and
# OpenSSH's sshd (SFTP). Installed from Debian's packages when missing; apt starts none of them.
set -euo pipefail
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ] || [ ! -x /usr/sbin/sshd ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd openssh-server >/dev/null
fi
