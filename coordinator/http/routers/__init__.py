"""HTTP routes, one module per resource; they only translate to the business modules."""

from aitbc.api.problems import problem_responses

PROBLEM_RESPONSES = problem_responses(400, 401, 403, 404, 409, 413, 429, 503)
