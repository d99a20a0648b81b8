#!/usr/bin/env bash
# Creates one Docker secret per ArtStore credential from .env (and the key files it names).
# Run with --help for usage.
set -euo pipefail

readonly SCRIPT_NAME="${0##*/}"
REPO_ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_ROOT

# secret name                      .env variable (or VARIABLE_FILE naming a key file)
readonly SECRETS=(
  "postgres_password               POSTGRES_PASSWORD"
  "redis_password                  REDIS_PASSWORD"
  "audit_log_secret_key            AUDIT_LOG_SECRET_KEY"
  "jwt_key_encryption_key          JWT_KEY_ENCRYPTION_KEY"
  "audit_digest_key_encryption_key AUDIT_DIGEST_KEY_ENCRYPTION_KEY"
  "pki_key_encryption_key          PKI_KEY_ENCRYPTION_KEY"
  "admin_bootstrap_client_secret   ADMIN_BOOTSTRAP_CLIENT_SECRET"
  "storage_client_secret           STORAGE_CLIENT_SECRET"
  "metrics_token                   METRICS_TOKEN"
  "gf_security_admin_password      GF_SECURITY_ADMIN_PASSWORD"
)

usage() {
  cat <<EOF
Usage: ${SCRIPT_NAME} [--env-file PATH] [--files [DIR]] [--force] [--help]

Creates one Docker secret per ArtStore credential:
$(for entry in "${SECRETS[@]}"; do read -r name var <<<"${entry}"; printf '  %-32s from %s\n' "${name}" "${var}"; done)
Each value comes from the env file, either as VARIABLE=value or as VARIABLE_FILE=path
(a key file; a relative path is relative to the env file). Values are never printed.

Two targets:
  (default)     Docker secrets in the swarm (docker secret create), for docker stack deploy.
                Docker secrets need swarm mode: run 'docker swarm init' first (a single
                node is enough). Existing secrets are kept: swarm secrets are immutable, so
                a rotated value goes into a new secret (docs/SECRETS_MANAGEMENT.md).
  --files [DIR] Files for docker compose, which mounts them as /run/secrets/<name>
                (default DIR: ${REPO_ROOT}/docker/secrets, the directory docker/compose.yml
                reads). DIR is mode 0700, the files 0444 so the container users can read them.
                A file whose content differs from the env file is left alone unless --force.

Options:
  --env-file PATH  where to read the values (default: ${REPO_ROOT}/.env)
  --force          with --files: replace files whose content differs (a rotation)
  --help           show this help

Running it again with the same env file changes nothing.
EOF
}

fail() {
  printf '%s: %s\n' "${SCRIPT_NAME}" "$1" >&2
  exit "${2:-1}"
}
say() { printf '%s: %s\n' "${SCRIPT_NAME}" "$1" >&2; }

env_file="${REPO_ROOT}/.env"
files_dir=""
use_files=false
force=false
while (($# > 0)); do
  case "$1" in
    --env-file)
      (($# >= 2)) || fail "--env-file needs a path" 2
      env_file="$2"
      shift 2
      ;;
    --env-file=*) env_file="${1#--env-file=}"; shift ;;
    --files)
      use_files=true
      if (($# >= 2)) && [[ "$2" != --* ]]; then
        files_dir="$2"
        shift
      fi
      shift
      ;;
    --files=*) use_files=true; files_dir="${1#--files=}"; shift ;;
    --force) force=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) fail "unknown option: $1 (see --help)" 2 ;;
  esac
done
[[ "${use_files}" == true || "${force}" == false ]] || fail "--force applies only with --files" 2
[[ -n "${files_dir}" ]] || files_dir="${REPO_ROOT}/docker/secrets"

[[ -f "${env_file}" ]] || fail "${env_file} not found. Run ./scripts/generate_secrets.sh first (or pass --env-file)."
env_dir="$(cd -- "$(dirname -- "${env_file}")" && pwd)"

# The env file is parsed, never sourced: a value must not be able to run commands.
env_value() {
  local name="$1" line value=""
  line="$(grep -E "^[[:space:]]*(export[[:space:]]+)?${name}=" -- "${env_file}" | tail -n 1 || true)"
  [[ -n "${line}" ]] || return 1
  value="${line#*=}"
  value="${value%$'\r'}"
  if [[ "${value}" =~ ^\"(.*)\"$ || "${value}" =~ ^\'(.*)\'$ ]]; then
    value="${BASH_REMATCH[1]}"
  fi
  [[ -n "${value}" ]] || return 1
  printf '%s' "${value}"
}

# Prints the secret's value; fails naming the variable when it is missing, doubled or a placeholder.
secret_value() {
  local var="$1" direct="" file="" value
  direct="$(env_value "${var}" || true)"
  file="$(env_value "${var}_FILE" || true)"
  if [[ -n "${direct}" && -n "${file}" ]]; then
    fail "${var}: both ${var} and ${var}_FILE are set in ${env_file}; give only one"
  fi
  if [[ -n "${file}" ]]; then
    [[ "${file}" == /* ]] || file="${env_dir}/${file}"
    [[ -r "${file}" ]] || fail "${var}_FILE: cannot read ${file}"
    value="$(cat -- "${file}")" # $(...) drops trailing newlines, as the services do
  else
    value="${direct}"
  fi
  [[ -n "${value}" ]] || fail "${var}: not set in ${env_file} (run ./scripts/generate_secrets.sh)"
  local lower="${value,,}"
  if [[ "${lower}" == *replace_with* || "${lower}" == *change_this* || "${lower}" == *changeme* ]]; then
    fail "${var}: still holds a placeholder in ${env_file}; run ./scripts/generate_secrets.sh"
  fi
  printf '%s' "${value}"
}

# Read every value before creating anything, so a bad env file creates nothing.
declare -A values=()
for entry in "${SECRETS[@]}"; do
  read -r name var <<<"${entry}"
  values["${name}"]="$(secret_value "${var}")"
done

created=0
kept=0
replaced=0

if [[ "${use_files}" == true ]]; then
  umask 077
  mkdir -p -- "${files_dir}"
  chmod 700 -- "${files_dir}"
  for entry in "${SECRETS[@]}"; do
    read -r name _ <<<"${entry}"
    target="${files_dir}/${name}"
    if [[ -e "${target}" ]]; then
      if [[ "$(cat -- "${target}")" == "${values[${name}]}" ]]; then
        say "kept ${name} (unchanged)"
        kept=$((kept + 1))
        continue
      fi
      if [[ "${force}" == false ]]; then
        fail "${target} holds another value and was left unchanged; pass --force to replace it (then recreate the services that use it)"
      fi
    fi
    tmp="$(mktemp -- "${files_dir}/.${name}.XXXXXX")"
    printf '%s' "${values[${name}]}" >"${tmp}"
    chmod 444 -- "${tmp}"
    if [[ -e "${target}" ]]; then replaced=$((replaced + 1)); say "replaced ${name}"; else created=$((created + 1)); say "created ${name}"; fi
    mv -f -- "${tmp}" "${target}"
  done
  say "${files_dir}: ${created} created, ${replaced} replaced, ${kept} unchanged"
  exit 0
fi

command -v docker >/dev/null 2>&1 || fail "docker is not installed. Docker secrets need the Docker engine in swarm mode; for docker compose use --files."
swarm_state="$(docker info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null || true)"
if [[ "${swarm_state}" != "active true" ]]; then
  node_state="${swarm_state%% *}"
  fail "Docker secrets need swarm mode, and this Docker engine is not a swarm manager (swarm: ${node_state:-no engine reachable}).
  Run 'docker swarm init' (one node is enough) and run this script again, or
  write the secrets as files for docker compose: ${SCRIPT_NAME} --files"
fi

for entry in "${SECRETS[@]}"; do
  read -r name _ <<<"${entry}"
  if docker secret inspect "${name}" >/dev/null 2>&1; then
    say "kept ${name} (exists; swarm secrets are immutable, see docs/SECRETS_MANAGEMENT.md to rotate it)"
    kept=$((kept + 1))
    continue
  fi
  printf '%s' "${values[${name}]}" | docker secret create --label org.artstore.secret="${name}" "${name}" - >/dev/null
  say "created ${name}"
  created=$((created + 1))
done
say "swarm secrets: ${created} created, ${kept} kept"
