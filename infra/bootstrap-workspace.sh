#!/usr/bin/env bash
# Creates the first workspace's API key in the deployed table, and optionally its
# workspace document. Every later change goes through the /v1 API with that key.
#
#   infra/bootstrap-workspace.sh WORKSPACE_ID [WORKSPACE_JSON]
#
# WORKSPACE_ID: 1-64 characters among letters, digits, '-', '_', '.' (e.g. `shop`).
# WORKSPACE_JSON: a workspace document (SPEC §3, e.g. examples/workspace.json with your
# phone_number_id and access_token); when given, it is PUT to /v1/workspace at once.
#
# Environment:
#   AVVIO_STACK     the stack whose outputs name the table and the API (default: avvio)
#   AVVIO_TABLE     the table, instead of the stack's TableName output
#   AVVIO_API_URL   the API base URL, instead of the stack's ApiUrl output
#   AVVIO_API_KEY   the key to register (at least 32 characters, no spaces); default: a
#                   new random one (openssl rand -hex 24)
# plus the AWS CLI's usual credentials and region (AWS_PROFILE, AWS_REGION).
#
# The key is printed once, on stdout: keep it. The table stores only its SHA-256.
set -euo pipefail

fail() {
  echo "bootstrap-workspace: $*" >&2
  exit 1
}

[ $# -ge 1 ] && [ $# -le 2 ] || fail "usage: $0 WORKSPACE_ID [WORKSPACE_JSON]"
workspace="$1"
document="${2:-}"
# avvio_common::domain::ids::WorkspaceId: at most 64 of [A-Za-z0-9._-].
[[ "$workspace" =~ ^[A-Za-z0-9._-]{1,64}$ ]] ||
  fail "\`$workspace\` is not a workspace id (1-64 characters among letters, digits, '-', '_', '.')"
if [ -n "$document" ]; then
  [ -r "$document" ] || fail "cannot read $document"
  command -v curl >/dev/null || fail "curl is not installed"
fi
command -v aws >/dev/null || fail "the AWS CLI (aws) is not installed"
command -v openssl >/dev/null || fail "openssl is not installed"

stack="${AVVIO_STACK:-avvio}"
output() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
table="${AVVIO_TABLE:-}"
if [ -z "$table" ]; then
  table="$(output TableName)" || fail "cannot read the outputs of stack $stack (set AVVIO_STACK, or AVVIO_TABLE)"
fi
[ -n "$table" ] && [ "$table" != None ] || fail "stack $stack has no TableName output (set AVVIO_TABLE)"
api="${AVVIO_API_URL:-}"
if [ -z "$api" ]; then
  api="$(output ApiUrl 2>/dev/null || true)"
  [ "$api" != None ] || api=""
fi
api="${api%/}"

key="${AVVIO_API_KEY:-}"
if [ -z "$key" ]; then
  key="$(openssl rand -hex 24)"
fi
# The API trims the presented key and hashes the rest; a key with spaces could not match.
[[ "$key" =~ ^[[:graph:]]{32,}$ ]] || fail "AVVIO_API_KEY must be at least 32 printable characters without spaces"

# avvio_common::ports::KeyHash::of: lowercase hex of the SHA-256 of the key's bytes.
# (OpenSSL prints `SHA2-256(stdin)= <hex>` or `(stdin)= <hex>`: the hex is the last field.)
hash="$(printf '%s' "$key" | openssl dgst -sha256 -hex | awk '{print $NF}')"
[[ "$hash" =~ ^[0-9a-f]{64}$ ]] || fail "unexpected openssl output: $hash"

# Exactly the item DynamoStore::put_api_key writes (adapters/aws/src/dynamo/keys.rs and
# workspaces.rs): pk = KEY#{sha256 hex}, sk = KEY, ws = the workspace id. The condition
# (which put_api_key does not have) refuses to move an existing key to another workspace;
# registering the same key for the same workspace again is harmless.
item="{\"pk\":{\"S\":\"KEY#$hash\"},\"sk\":{\"S\":\"KEY\"},\"ws\":{\"S\":\"$workspace\"}}"
if ! aws dynamodb put-item \
  --table-name "$table" \
  --item "$item" \
  --condition-expression "attribute_not_exists(pk) OR ws = :ws" \
  --expression-attribute-values "{\":ws\":{\"S\":\"$workspace\"}}"; then
  fail "could not write the API key into $table (a ConditionalCheckFailedException means this key already belongs to another workspace)"
fi
echo "bootstrap-workspace: API key registered for workspace $workspace in $table" >&2

echo "bootstrap-workspace: the API key (shown only now; the table keeps its hash):" >&2
echo "$key"

if [ -n "$document" ]; then
  [ -n "$api" ] || fail "no API URL (stack output ApiUrl or AVVIO_API_URL) to PUT $document to"
  # The key goes to curl through a private file, not the command line.
  header="$(mktemp)"
  trap 'rm -f "$header"' EXIT
  printf 'Authorization: Bearer %s\n' "$key" >"$header"
  echo "bootstrap-workspace: PUT $api/v1/workspace < $document" >&2
  curl --fail-with-body --silent --show-error -X PUT "$api/v1/workspace" \
    -H @"$header" -H 'Content-Type: application/json' --data-binary @"$document"
  echo >&2
  echo "bootstrap-workspace: workspace $workspace is ready; next: create automations (docs/deploy.md)" >&2
else
  cat >&2 <<EOF
bootstrap-workspace: next, store the workspace document (SPEC §3; see examples/workspace.json):
  export AVVIO_API_KEY=<the key above>
  curl -X PUT ${api:-\$API_URL}/v1/workspace \\
    -H "Authorization: Bearer \$AVVIO_API_KEY" -H 'Content-Type: application/json' \\
    --data-binary @workspace.json
EOF
fi
