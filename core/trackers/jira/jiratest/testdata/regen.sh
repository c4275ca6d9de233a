#!/bin/sh
# Regenerates the trimmed Jira Cloud platform v3 description the contract tests read, from
# Atlassian's published description (see shared/specs/PROVENANCE.md).
# Run from the repository root: core/trackers/jira/jiratest/testdata/regen.sh [SPECS_DIR]
# SPECS_DIR defaults to ../shared/specs (the shared folder beside the repository).
set -eu
specs=${1:-../shared/specs}
go run ./core/trackers/spectest/trim -in "$specs/jira-cloud-platform-v3.json" \
	-out core/trackers/jira/jiratest/testdata/jira-cloud-platform-v3.json \
	-op 'GET /rest/api/3/myself' \
	-op 'GET /rest/api/3/project/{projectIdOrKey}' \
	-op 'GET /rest/api/3/field' \
	-op 'POST /rest/api/3/search/jql' \
	-op 'POST /rest/api/3/issue' \
	-op 'GET /rest/api/3/issue/{issueIdOrKey}' \
	-op 'PUT /rest/api/3/issue/{issueIdOrKey}' \
	-op 'GET /rest/api/3/issue/{issueIdOrKey}/transitions' \
	-op 'POST /rest/api/3/issue/{issueIdOrKey}/transitions' \
	-op 'GET /rest/api/3/issue/{issueIdOrKey}/comment' \
	-op 'POST /rest/api/3/issue/{issueIdOrKey}/comment' \
	-op 'PUT /rest/api/3/issue/{issueIdOrKey}/comment/{id}' \
	-op 'DELETE /rest/api/3/issue/{issueIdOrKey}/comment/{id}'
