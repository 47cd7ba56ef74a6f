# lumberwatch .rpm %post ($1: 1 install, 2 upgrade): the state directory (0700) and the
# unit. The service is not started: edit /etc/lumberwatch/lumberwatch.yml first, then
# `systemctl enable --now lumberwatch`.
install -d -o lumberwatch -g lumberwatch -m 0700 /var/lib/lumberwatch
chmod 0750 /etc/lumberwatch
chgrp lumberwatch /etc/lumberwatch
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
    if [ "$1" -ge 2 ] && systemctl is-active --quiet lumberwatch.service; then
        systemctl restart lumberwatch.service || true
    fi
fi
exit 0
