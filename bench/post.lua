-- wrk script for the agent pass benchmark: every request is the same small
-- JSON POST, as a client of /api/agent/query sends it.
wrk.method = "POST"
wrk.body = '{"query":"consultas de hoje","context":{}}'
wrk.headers["Content-Type"] = "application/json"
