#!/usr/bin/env bash
# Creates or updates the SSM SecureString parameters Avvio's functions read at cold
# start. CloudFormation cannot create SecureStrings, so this runs once before the first
# `sam deploy` (and again to rotate a secret; the functions read it at their next cold
# start). The values come from the environment, never from arguments:
#
#   WHATSAPP_APP_SECRET     Meta's app secret (App dashboard > App settings > Basic)    required
#   WHATSAPP_VERIFY_TOKEN   a random string of yours, typed again in Meta's webhook form  required
#   WHATSAPP_ACCESS_TOKEN   default Graph API token, for workspaces without their own    optional
#
# The parameter names default to the template's defaults; they must start with '/':
#
#   AVVIO_APP_SECRET_PARAMETER     /avvio/whatsapp/app-secret    -> AppSecretParameterName
#   AVVIO_VERIFY_TOKEN_PARAMETER   /avvio/whatsapp/verify-token  -> VerifyTokenParameterName
#   AVVIO_ACCESS_TOKEN_PARAMETER   /avvio/whatsapp/access-token  -> AccessTokenParameterName
#   AVVIO_KMS_KEY_ID               optional customer managed KMS key (default: aws/ssm);
#                                  then deploy with SecretsKmsKeyArn set to its ARN
#
# It uses the AWS CLI's usual credentials and region (AWS_PROFILE, AWS_REGION): use the
# stack's region. Example:
#   WHATSAPP_APP_SECRET=... WHATSAPP_VERIFY_TOKEN="$(openssl rand -hex 32)" infra/put-secrets.sh
set -euo pipefail

fail() {
  echo "put-secrets: $*" >&2
  exit 1
}

command -v aws >/dev/null || fail "the AWS CLI (aws) is not installed"

app_secret_name="${AVVIO_APP_SECRET_PARAMETER:-/avvio/whatsapp/app-secret}"
verify_token_name="${AVVIO_VERIFY_TOKEN_PARAMETER:-/avvio/whatsapp/verify-token}"
access_token_name="${AVVIO_ACCESS_TOKEN_PARAMETER:-/avvio/whatsapp/access-token}"

# The value of the environment variable named $1, which must be set and not empty.
required() {
  local value="${!1:-}"
  [ -n "$value" ] || fail "the environment variable $1 is not set (see the top of $0)"
  printf '%s' "$value"
}

# The template builds the IAM resource as arn:...:parameter${Name}: names start with '/'.
check_name() {
  local variable="$1" name="$2"
  [[ "$name" =~ ^/[a-zA-Z0-9_./-]{1,1010}$ ]] ||
    fail "$variable=\`$name\` is not an SSM parameter name starting with '/' (letters, digits, '_', '.', '-', '/')"
}

app_secret="$(required WHATSAPP_APP_SECRET)"
verify_token="$(required WHATSAPP_VERIFY_TOKEN)"
access_token="${WHATSAPP_ACCESS_TOKEN:-}"
check_name AVVIO_APP_SECRET_PARAMETER "$app_secret_name"
check_name AVVIO_VERIFY_TOKEN_PARAMETER "$verify_token_name"
if [ -n "$access_token" ]; then
  check_name AVVIO_ACCESS_TOKEN_PARAMETER "$access_token_name"
fi

key_args=()
if [ -n "${AVVIO_KMS_KEY_ID:-}" ]; then
  key_args=(--key-id "$AVVIO_KMS_KEY_ID")
fi

# Each value goes through a private temporary file (`--value file://...`), so it never
# appears on a command line (`ps`, shell history).
workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
chmod 700 "$workdir"

put() {
  local name="$1" value="$2" description="$3"
  local file="$workdir/value"
  (umask 077 && printf '%s' "$value" >"$file")
  aws ssm put-parameter \
    --name "$name" \
    --type SecureString \
    --overwrite \
    --description "$description" \
    ${key_args[@]+"${key_args[@]}"} \
    --value "file://$file" \
    --output text --query Version >/dev/null
  rm -f "$file"
  echo "put-secrets: wrote $name" >&2
}

put "$app_secret_name" "$app_secret" "Avvio: Meta app secret (X-Hub-Signature-256 key)"
put "$verify_token_name" "$verify_token" "Avvio: webhook verify token"
if [ -n "$access_token" ]; then
  put "$access_token_name" "$access_token" "Avvio: default WhatsApp Cloud API access token"
fi

overrides="AppSecretParameterName=$app_secret_name VerifyTokenParameterName=$verify_token_name"
if [ -n "$access_token" ]; then
  overrides="$overrides AccessTokenParameterName=$access_token_name"
else
  echo "put-secrets: WHATSAPP_ACCESS_TOKEN not set: no default access token (each workspace carries its own)" >&2
fi
echo "put-secrets: deploy with --parameter-overrides $overrides" >&2
