#!/bin/sh
# One-shot set-up of a secured Elasticsearch: the kibana_system password, and a `scholarflow`
# user whose role reaches only Scholarflow's indices (papers*, scholarflow-*) and templates, and
# a `scholarflow_search` user that may only read the papers (the search service).
# Idempotent: every call creates or updates.
set -eu
ES="${ES_URL:-http://elasticsearch:9200}"

call() {
  code=$(curl -sS -o /tmp/answer -w '%{http_code}' -u "elastic:${ELASTIC_PASSWORD}" \
    -X "$1" -H 'Content-Type: application/json' "$ES$2" -d "$3")
  case "$code" in
    2*) ;;
    *) echo "$1 $2 answered HTTP $code: $(cat /tmp/answer)" >&2; exit 1 ;;
  esac
}

call POST /_security/user/kibana_system/_password "{\"password\": \"${KIBANA_SYSTEM_PASSWORD}\"}"
call PUT /_security/role/scholarflow '{
  "cluster": ["monitor", "manage_index_templates"],
  "indices": [{"names": ["papers*", "scholarflow-*"], "privileges": ["all"]}]
}'
call PUT /_security/user/scholarflow "{\"password\": \"${INGEST_USER_PASSWORD}\", \"roles\": [\"scholarflow\"]}"
# The search service reads the papers' indices and nothing else.
call PUT /_security/role/scholarflow_search '{
  "cluster": ["monitor"],
  "indices": [{"names": ["papers*"], "privileges": ["read", "view_index_metadata"]}]
}'
call PUT /_security/user/scholarflow_search "{\"password\": \"${SEARCH_USER_PASSWORD}\", \"roles\": [\"scholarflow_search\"]}"
echo "elasticsearch: kibana_system password set, users scholarflow and scholarflow_search ready"
