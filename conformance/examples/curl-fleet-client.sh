#!/bin/sh
# A fleet client in POSIX sh and curl, written to the uko-conformance fleet contract: brings every
# managed key of a keystore or a vault into sync, one key at a time with curl-client.sh.
#
# Input (environment): UKO_SCOPE (keystore or vault) with UKO_KEYSTORE_ID or UKO_VAULT_ID, and the rest of
# the one-key contract (UKO_API_URL or UKO_URL, UKO_IAM_URL + UKO_APIKEY or UKO_TOKEN); no UKO_KEY_ID.
# Output: exit 0 after a clean walk (every listed key confirmed in sync, total_count unchanged during the
# walk); exit 1 otherwise.
#
# Each walk reads the scope's list page by page (default page size, offset until total_count) and runs
# curl-client.sh for every key not yet confirmed (UKO_MAX_ROUNDS=1: read, sync if out of sync). A key
# deleted while the list is walked shifts the later keys one place up, so one walk can skip a key: the
# next walk finds it. At most 6 walks.
#
# Try it: uko-conformance run --fleet vault --client 'sh conformance/examples/curl-fleet-client.sh' --cases 20
set -u

here=$(dirname "$0")
max_walks=6
: "${UKO_API_URL:-${UKO_URL:?UKO_URL or UKO_API_URL is required}}"
api_url=${UKO_API_URL:-${UKO_URL%/}/api/v4}
case ${UKO_SCOPE:?UKO_SCOPE is required (keystore or vault)} in
  keystore) list_url="${api_url%/}/keystores/${UKO_KEYSTORE_ID:?UKO_KEYSTORE_ID is required}/managed_keys?" ;;
  vault) list_url="${api_url%/}/managed_keys?vault.id=${UKO_VAULT_ID:?UKO_VAULT_ID is required}&" ;;
  *) printf 'expected UKO_SCOPE=keystore or vault, found %s\n' "$UKO_SCOPE" >&2; exit 1 ;;
esac
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
: >"$work/confirmed"

log() { printf '%s\n' "$*" >&2; }
header() { grep -i "^$1:" "$work/headers" | tail -n 1 | sed 's/^[^:]*:[[:space:]]*//' | tr -d '\r'; }

token=${UKO_TOKEN:-}
if [ -n "${UKO_APIKEY:-}" ] && [ -n "${UKO_IAM_URL:-}" ]; then
  token=$(curl -s --max-time 10 -X POST "${UKO_IAM_URL%/}/identity/token" \
    -H 'Content-Type: application/x-www-form-urlencoded' \
    --data-urlencode 'grant_type=urn:ibm:params:oauth:grant-type:apikey' \
    --data-urlencode "apikey=$UKO_APIKEY" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  [ -n "$token" ] || { log "IAM gave no access token"; exit 1; }
fi

# get_page URL: GET with retries (429 waits Retry-After, 5xx and broken connections back off).
get_page() {
  attempt=1
  while :; do
    status=$(curl -s --max-time 10 -o "$work/body" -D "$work/headers" -w '%{http_code}' \
      -H "Authorization: Bearer $token" -H 'Accept: application/json' "$1") || status=000
    case $status in
      2??) return 0 ;;
      429) wait=$(header Retry-After); case $wait in '' | *[!0-9]*) wait=1 ;; esac; wait="$wait.05" ;;
      5?? | 000) wait=0.$((attempt * 2)) ;;
      *) log "the list was refused with $status"; return 1 ;;
    esac
    [ "$status" != 429 ] && [ "$attempt" -ge 5 ] && return 1
    sleep "$wait"
    [ "$attempt" -ge 5 ] && return 1
    attempt=$((attempt + 1))
  done
}

# list: every key id of the scope into $work/ids (first occurrence only); 1 when total_count moved.
list() {
  : >"$work/ids"
  : >"$work/totals"
  offset=0
  while :; do
    get_page "${list_url}offset=$offset" || return 2
    sed -n 's/^{"total_count":\([0-9]*\).*/\1/p' "$work/body" >>"$work/totals"
    # A key's own href is the only .../managed_keys/<id>" in a list body (paging links have a ?).
    grep -o '/managed_keys/[^"/?]*"' "$work/body" | sed 's|/managed_keys/||; s|"||' >"$work/page"
    count=$(wc -l <"$work/page" | tr -d ' ')
    cat "$work/page" >>"$work/ids"
    offset=$((offset + count))
    total=$(tail -n 1 "$work/totals")
    [ "$count" -eq 0 ] || [ "$offset" -ge "${total:-0}" ] && break
  done
  awk '!seen[$0]++' "$work/ids" >"$work/unique" && mv "$work/unique" "$work/ids"
  [ "$(sort -u "$work/totals" | wc -l | tr -d ' ')" -le 1 ]
}

walk=1
while [ "$walk" -le "$max_walks" ]; do
  [ "$walk" -gt 1 ] && sleep 0.2
  list
  listed=$?
  if [ "$listed" -ne 2 ]; then
    worked=0
    pending=0
    while read -r id; do
      grep -qx "$id" "$work/confirmed" && continue
      worked=1
      if UKO_KEY_ID=$id UKO_MAX_ROUNDS=1 UKO_TOKEN=$token UKO_APIKEY='' sh "$here/curl-client.sh" >/dev/null 2>"$work/key-error" </dev/null; then
        echo "$id" >>"$work/confirmed"
      else
        pending=1
      fi
    done <"$work/ids"
    if [ "$worked" -eq 0 ] && [ "$listed" -eq 0 ] && [ "$pending" -eq 0 ]; then
      echo "$(wc -l <"$work/confirmed" | tr -d ' ') key(s) of the $UKO_SCOPE are in sync"
      exit 0
    fi
  fi
  walk=$((walk + 1))
done
log "the $UKO_SCOPE is not in sync after $max_walks walks"
exit 1
