"""HTTP routes of the miner, one module per resource; miner/daemon.py and miner/runner.py do the work."""

from aitbc.api.problems import problem_responses

PROBLEM_RESPONSES = problem_responses(400, 401, 403, 409, 422, 429, 503)
