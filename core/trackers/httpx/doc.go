// Package httpx is the HTTP plumbing shared by tracker connectors: timeouts, retries of reads,
// Retry-After, a per-tracker request budget, paging and errors an operator can act on.
package httpx
