"""The service side of GradAtlas, installed as `gradatlas.service`. docs/design.md maps the tree:

- `contracts/` what the API and the worker share: settings, the spec, resources, queue names, errors
- `science/`   NumPy-only: mean-field theory, the summary of a profile, verdicts, remedies
- `store/`     the database: tables, sessions, the Store gateway, migrations
- `search/`    the history query language and keyset pages
- `jobs/`      submitting experiments, parameter sweeps, imports
- `auth/`      API tokens and rate limits
- `reports/`   comparisons and figures
- `api/`, `web/`, `cli/`, `client.py`   the HTTP API, the pages, the command line, the Python client
"""
