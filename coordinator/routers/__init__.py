"""HTTP routes, one module per resource; they only translate to the business modules."""

from aitbc.coordinator.models import Problem

PROBLEM_RESPONSES = {code: {"model": Problem, "content": {"application/problem+json": {}}}
                     for code in (400, 401, 403, 404, 409, 413, 429, 503)}
