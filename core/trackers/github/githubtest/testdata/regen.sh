#!/bin/sh
# Regenerates the trimmed GitHub description and webhook examples the contract tests read,
# from GitHub's own published packages (npm: @octokit/openapi@23.0.2, @octokit/webhooks-examples@7.6.1).
# Run from the repository root: core/trackers/github/githubtest/testdata/regen.sh
set -eu
dir=core/trackers/github/githubtest/testdata
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent @octokit/openapi@23.0.2 @octokit/webhooks-examples@7.6.1 >/dev/null &&
	mkdir o w && tar xzf octokit-openapi-23.0.2.tgz -C o && tar xzf octokit-webhooks-examples-7.6.1.tgz -C w)
go run ./core/trackers/spectest/trim -in "$tmp/o/package/generated/api.github.com.json" -out "$dir/api.github.com.json" \
	-op 'GET /user' \
	-op 'GET /repos/{owner}/{repo}' \
	-op 'GET /repos/{owner}/{repo}/issues' \
	-op 'POST /repos/{owner}/{repo}/issues' \
	-op 'GET /repos/{owner}/{repo}/issues/comments' \
	-op 'GET /repos/{owner}/{repo}/issues/{issue_number}' \
	-op 'PATCH /repos/{owner}/{repo}/issues/{issue_number}' \
	-op 'GET /repos/{owner}/{repo}/issues/{issue_number}/comments' \
	-op 'POST /repos/{owner}/{repo}/issues/{issue_number}/comments' \
	-op 'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}' \
	-op 'DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}' \
	-op 'GET /repos/{owner}/{repo}/milestones' \
	-op 'POST /app/installations/{installation_id}/access_tokens' \
	-webhook issues-opened -webhook issues-edited -webhook issues-closed -webhook issues-reopened \
	-webhook issues-labeled -webhook issues-assigned -webhook issues-deleted \
	-webhook issue-comment-created -webhook issue-comment-edited -webhook issue-comment-deleted
# The issues and issue_comment payload examples, as published.
node -e '
const all = require(process.argv[1]);
const keep = all.filter(h => h.name === "issues" || h.name === "issue_comment");
require("fs").writeFileSync(process.argv[2], JSON.stringify(keep, null, 1) + "\n");
' "$tmp/w/package/api.github.com/index.json" "$dir/webhook-examples.json"
