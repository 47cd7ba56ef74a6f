# lumberwatch .rpm %pre: the system user and group, before the files that belong to them.
getent group lumberwatch >/dev/null || groupadd --system lumberwatch
getent passwd lumberwatch >/dev/null || useradd --system --gid lumberwatch \
    --home-dir /var/lib/lumberwatch --no-create-home --shell /sbin/nologin \
    --comment "lumberwatch log shipper" lumberwatch
exit 0
