#!/bin/sh
# One-shot import of Scholarflow's Kibana saved objects: the data view on the `papers` alias,
# the saved search and the overview dashboard. Re-running overwrites them with the file's version.
set -eu
KIBANA="${KIBANA_URL:-http://kibana:5601}"
answer=$(curl -sS -u "elastic:${ELASTIC_PASSWORD}" -H 'kbn-xsrf: true' \
  -F file=@/kibana/scholarflow.ndjson "$KIBANA/api/saved_objects/_import?overwrite=true")
echo "$answer"
echo "$answer" | grep -q '"success":true'
