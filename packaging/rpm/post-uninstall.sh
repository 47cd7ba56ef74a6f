# lumberwatch .rpm %postun ($1: 0 uninstall, 1 upgrade). The state in
# /var/lib/lumberwatch and the user are kept (remove them by hand if wanted).
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
