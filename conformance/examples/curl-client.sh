#!/bin/sh
# A verify-and-sync client in POSIX sh and curl, written to the uko-conformance client contract.
#
# Input (environment): UKO_API_URL (the .../api/v4 base; without it UKO_URL, the server root, + /api/v4),
# UKO_KEY_ID (the managed key), and either UKO_IAM_URL + UKO_APIKEY (an API key exchanged at
# POST $UKO_IAM_URL/identity/token) or UKO_TOKEN.
# Output: exit 0 when a status read shows every keystore "ok"; exit 1 when the key could not be synced.
#
# Per round: GET the key (for its ETag), GET its status_in_keystores, and if a keystore is out_of_sync,
# POST sync_status_in_keystores with If-Match. A 412 starts a new round (fresh ETag); 429 waits
# Retry-After; 5xx and dropped connections back off 0.1, 0.2, 0.4, 0.8 s; at most 5 attempts per request.
# JSON is matched with grep and sed, so jq is not needed.
#
# Try it: uko-conformance run --client 'sh conformance/examples/curl-client.sh' --cases 50
set -u

attempts_per_request=5
# A fleet client running this script per key (curl-fleet-client.sh) asks for fewer rounds.
max_rounds=${UKO_MAX_ROUNDS:-6}
# A plain HTTP client wants the /api/v4 base; UKO_URL is the server root (the SDK's service URL).
: "${UKO_API_URL:-${UKO_URL:?UKO_URL or UKO_API_URL is required}}"
api_url=${UKO_API_URL:-${UKO_URL%/}/api/v4}
key_url="${api_url%/}/managed_keys/${UKO_KEY_ID:?UKO_KEY_ID is required}"
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT

log() { printf '%s\n' "$*" >&2; }

# The value of a response header (last occurrence), without the trailing CR.
header() { grep -i "^$1:" "$work/headers" | tail -n 1 | sed 's/^[^:]*:[[:space:]]*//' | tr -d '\r'; }

# The first errors[].message of a UKO error body.
error_message() { sed -n 's/.*"message":"\([^"]*\)".*/\1/p' "$work/body" | head -n 1; }

# How often a JSON "name":"value" pair occurs in the body; value is a basic regular expression.
count_pairs() { grep -o "\"$1\":\"$2\"" "$work/body" | wc -l | tr -d ' '; }

backoff() {
  case $1 in 1) echo 0.1 ;; 2) echo 0.2 ;; 3) echo 0.4 ;; *) echo 0.8 ;; esac
}

# send METHOD URL [IF_MATCH]: one request; sets http_status (000 when the connection failed or broke).
send() {
  set -- "$1" "$2" "${3:-}"
  if [ -n "$3" ]; then if_match_header="If-Match: $3"; else if_match_header="X-No-If-Match: 1"; fi
  if [ -n "$token" ]; then auth_header="Authorization: Bearer $token"; else auth_header="X-No-Auth: 1"; fi
  http_status=$(curl -s --max-time 10 -o "$work/body" -D "$work/headers" -w '%{http_code}' \
    -X "$1" -H "$auth_header" -H 'Accept: application/json' -H "$if_match_header" "$2") || http_status=000
}

# call STEP METHOD URL [IF_MATCH]: retries 429, 5xx and broken connections.
# Returns 0 on 2xx, 1 on 412 (stale ETag), 2 when the step failed for good.
call() {
  step=$1
  shift
  attempt=1
  while :; do
    send "$@"
    case $http_status in
      2??) return 0 ;;
      412) return 1 ;;
      429)
        wait=$(header Retry-After)
        case $wait in '' | *[!0-9]*) wait=1 ;; esac
        wait="$wait.05"
        ;;
      5?? | 000) wait=$(backoff "$attempt") ;;
      *)
        log "$step was refused with $http_status: $(error_message)"
        return 2
        ;;
    esac
    if [ "$attempt" -ge "$attempts_per_request" ]; then
      log "$step failed $attempts_per_request times; last status $http_status"
      # The rate limit holds for whatever the caller sends next (another key, another client).
      [ "$http_status" = 429 ] && sleep "$wait"
      return 2
    fi
    sleep "$wait"
    attempt=$((attempt + 1))
  done
}

token=${UKO_TOKEN:-}
if [ -n "${UKO_APIKEY:-}" ] && [ -n "${UKO_IAM_URL:-}" ]; then
  token=$(curl -s --max-time 10 -X POST "${UKO_IAM_URL%/}/identity/token" \
    -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-urlencode 'grant_type=urn:ibm:params:oauth:grant-type:apikey' \
    --data-urlencode "apikey=$UKO_APIKEY" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  [ -n "$token" ] || { log "IAM gave no access token"; exit 1; }
fi

round=1
while [ "$round" -le "$max_rounds" ]; do
  call GetManagedKey GET "$key_url" || exit 1
  etag=$(header ETag)
  [ -n "$etag" ] || { log "GetManagedKey answered without an ETag"; exit 1; }

  call GetKeyDistributionStatusForKeystores GET "$key_url/status_in_keystores" || exit 1
  # Keystores removed from UKO by the user stay out_of_sync and are not ours to fix.
  removed=$(count_pairs keystore_sync_flag_detail 'target_keystore_removed_by_user[a-z_]*')
  out_of_sync=$(($(count_pairs keystore_sync_flag out_of_sync) - removed))
  not_ok=$(($(count_pairs keystore_sync_flag '[a-z_]*') - $(count_pairs keystore_sync_flag ok) - removed))

  if [ "$not_ok" -eq 0 ]; then
    echo "managed key $UKO_KEY_ID is in sync in every keystore"
    exit 0
  fi
  if [ "$out_of_sync" -gt 0 ]; then
    # 0: synced, re-check in the next round; 1: stale ETag, the next round reads a fresh one.
    call SyncManagedKey POST "$key_url/sync_status_in_keystores" "$etag"
    [ $? -eq 2 ] && exit 1
  elif [ "$round" -lt "$max_rounds" ]; then
    # Only keystores in error: give them time to come back.
    sleep "$(backoff "$round")"
  fi
  round=$((round + 1))
done
log "managed key $UKO_KEY_ID is still not in sync after $max_rounds rounds"
exit 1
