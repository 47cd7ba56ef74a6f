# lumberwatch .rpm %preun ($1: 0 uninstall, 1 upgrade): stop the agent on uninstall.
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl disable --now lumberwatch.service >/dev/null 2>&1 || true
fi
exit 0
