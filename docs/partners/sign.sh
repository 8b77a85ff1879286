#!/usr/bin/env bash
# Send a signed request to Rebound's partner ingest with openssl and curl.
#
#   sign.sh URL KEY_ID SECRET BODY_FILE [CONTENT_TYPE] ["Header: value" ...]
#
# Prints the answer's body, then its HTTP status on a line of its own; exits 0 on a 2xx answer.
set -euo pipefail
url=$1 key_id=$2 secret=$3 body_file=$4 content_type=${5:-application/json}
shift $(( $# < 5 ? $# : 5 ))
t=$(date +%s)
# The key: SHA-256 of the secret's UTF-8 bytes as 64 lower-case hex characters (openssl's own output).
key=$(printf '%s' "$secret" | openssl dgst -sha256 -r | cut -d' ' -f1)
# The request target: the URL's path, and "?" and its query if it has one, as curl sends them
# (write the URL percent-encoded: curl sends it as it is).
rest=${url#*://}
rest=${rest%%#*}
case $rest in
  */*) target=/${rest#*/} ;;
  *\?*) target=/?${rest#*\?} ;;
  *) target=/ ;;
esac
# The message: the timestamp, a full stop, the target, a line feed, then the body's bytes exactly as sent.
signature=$({ printf '%s.%s\n' "$t" "$target"; cat "$body_file"; } | openssl dgst -sha256 -hmac "$key" -r | cut -d' ' -f1)
extra=()
for header in "$@"; do extra+=(-H "$header"); done
answer=$(curl -sS -w '\n%{http_code}' -X POST "$url" \
  -H "Rebound-Key-Id: $key_id" -H "Rebound-Signature: t=$t,v2=$signature" \
  -H "Content-Type: $content_type" "${extra[@]}" --data-binary "@$body_file")
echo "$answer"
[[ ${answer##*$'\n'} == 2* ]]
