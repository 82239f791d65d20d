#!/usr/bin/env bash
# What the tests start or drive on 127.0.0.1 that PyPI does not ship: dovecot (IMAP), OpenSSH's sshd
# (SFTP) and Chromium (the notebook test in a real browser, driven by Playwright without a browser
# download of its own). Installed from Debian's packages when missing; apt starts none of them.
set -euo pipefail
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ] || [ ! -x /usr/sbin/sshd ] \
        || [ ! -x /usr/bin/chromium ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd openssh-server chromium >/dev/null
fi
