#!/usr/bin/env bash
# Regenerates the TEST-ONLY certificates in this directory (see README.md).
#
#   certs/gen.sh           create the set if any file is missing, else leave it alone
#   certs/gen.sh --force   throw the set away and make a new one
#
# Everything is built in a scratch directory and only moved into place once the whole
# set exists, so an interrupted run never leaves a half-made set behind. Needs the
# openssl CLI (written against 3.0).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

outputs=(
    ca.crt ca.key ca.sha256
    server.crt server.key
    client.crt client.key
    other-ca.crt other-server.crt other-server.key
    expired-server.crt expired-server.key
    wronghost-server.crt wronghost-server.key
)

force=0
case "${1:-}" in
    --force) force=1 ;;
    "") ;;
    *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

if [[ $force -eq 0 ]]; then
    missing=0
    for f in "${outputs[@]}"; do
        [[ -e "$here/$f" ]] || missing=1
    done
    if [[ $missing -eq 0 ]]; then
        echo "certs: all files present in $here (use --force to regenerate)"
        exit 0
    fi
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
umask 077 # keys are born 0600

# Runs openssl quietly, but shows what it said if it fails.
quiet() { "$@" 2>openssl.log || { cat openssl.log >&2; return 1; }; }

newkey() { quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

cat >ext.cnf <<'END'
# `req` insists on a [req] section even when -subj gives the whole name.
[req]
distinguished_name = dn

[dn]

[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash

[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1

[wronghost]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:wrong.example

[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
END

# Every certificate is issued by `openssl ca`, the only 3.0 command that takes explicit
# dates: the good ones start in the past (no trouble with a clock that lags the machine
# that made them) and run 100 years; the expired one ended in 2001.
good_start=20240101000000Z
good_end=21240101000000Z
mkdir -p ca-db/new
: >ca-db/index.txt
openssl rand -hex 15 >ca-db/serial
cat >ca.cnf <<END
[ca]
default_ca = test_ca

[test_ca]
dir = $work/ca-db
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none

[any]
organizationName = optional
commonName = supplied
END

# issue NAME CN EXT_SECTION NOT_BEFORE NOT_AFTER SIGNING_CA|-selfsign
issue() {
    newkey "$1.key"
    quiet openssl req -new -sha256 -key "$1.key" -subj "/O=lumberwatch tests/CN=$2" \
        -config ext.cnf -out "$1.csr"
    local signer
    if [[ $6 == -selfsign ]]; then
        signer=(-selfsign -keyfile "$1.key")
    else
        signer=(-cert "$6.crt" -keyfile "$6.key")
    fi
    quiet openssl ca -batch -notext -config ca.cnf "${signer[@]}" \
        -startdate "$4" -enddate "$5" -extfile ext.cnf -extensions "$3" \
        -in "$1.csr" -out "$1.crt"
}

issue ca "lumberwatch test CA" ca "$good_start" "$good_end" -selfsign
issue other-ca "lumberwatch unrelated test CA" ca "$good_start" "$good_end" -selfsign

issue server localhost server "$good_start" "$good_end" ca
issue client "lumberwatch test client" client "$good_start" "$good_end" ca
issue other-server localhost server "$good_start" "$good_end" other-ca
issue wronghost-server wrong.example wronghost "$good_start" "$good_end" ca
issue expired-server localhost server 20000101000000Z 20010101000000Z ca

# Filebeat's ssl.ca_trusted_fingerprint: hex SHA-256 of the DER certificate.
openssl x509 -in ca.crt -outform DER | openssl dgst -sha256 -r | cut -d' ' -f1 >ca.sha256

# other-ca.key is only needed to sign other-server; it is not kept.
for f in "${outputs[@]}"; do
    case "$f" in
        *.key) chmod 0600 "$f" ;;
        *) chmod 0644 "$f" ;;
    esac
    mv -f "$f" "$here/$f"
done

echo "certs: wrote ${#outputs[@]} files to $here"
echo "certs: ca.crt sha256 $(cat "$here/ca.sha256")"
