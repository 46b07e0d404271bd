#!/usr/bin/env bash
# Build the sdist and the wheel, install each into a fresh virtual environment with
# only the runtime dependencies, and smoke-test it; then check the extras install
# what they name. Usage: scripts/check_dist.sh [python]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$PY" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
wheel=$(ls "$work"/dist/*.whl)
sdist=$(ls "$work"/dist/*.tar.gz)
echo "built: $(basename "$wheel") $(basename "$sdist")"

allowed='^(okta-guard|starlette|pyjwt|httpx|cachetools|cryptography|cffi|pycparser|anyio|idna|sniffio|typing-extensions|typing_extensions|certifi|httpcore|h11|exceptiongroup|pip|setuptools)$'
for artifact in "$wheel" "$sdist"; do
    env="$work/venv-$(basename "$artifact" | tr -c 'a-z0-9\n' '_')"
    python3 -m venv "$env"
    "$env/bin/pip" install -q "$artifact" 2>&1 | grep -v "^WARNING: Location" || true
    extra=$("$env/bin/pip" list --format=freeze 2>/dev/null | cut -d= -f1 | tr 'A-Z_' 'a-z-' \
        | grep -Ev "$allowed" || true)
    if [ -n "$extra" ]; then
        echo "unexpected runtime packages from $(basename "$artifact"): $extra" >&2
        exit 1
    fi
    "$env/bin/python" scripts/smoke.py
    "$env/bin/okta-guard" --help >/dev/null
    echo "ok: $(basename "$artifact") installs with only the runtime dependencies"
done

"$env/bin/python" -c "
from okta_guard.errors import ConfigurationError
from okta_guard.redis import RedisStore
try:
    RedisStore('redis://127.0.0.1:6379/0')
except ConfigurationError as exc:
    assert 'okta-guard[redis]' in str(exc)
else:
    raise SystemExit('RedisStore without redis-py should say which extra to install')
"
echo "ok: without the redis extra, RedisStore says which extra to install"
"$env/bin/pip" install -q "${wheel}[redis]" 2>&1 | grep -v "^WARNING: Location" || true
"$env/bin/python" -c "import redis; from okta_guard.redis import RedisStore; RedisStore('redis://127.0.0.1:6379/0')"
echo "ok: extra redis installs redis-py"
"$env/bin/pip" install -q "${wheel}[fastapi,testing]" 2>&1 | grep -v "^WARNING: Location" || true
"$env/bin/python" -c "import fastapi, uvicorn, trustme; import okta_guard.fastapi"
echo "ok: extras fastapi,testing install fastapi, uvicorn and trustme"
