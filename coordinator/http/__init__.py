"""The coordinator's HTTP layer: the FastAPI app, its dependencies, routers,
middleware, problem handlers and response shaping. The domain modules beside
this package (job_submission, miner_reports, scheduler, ...) never import FastAPI."""
