"""WSGI entry point for gunicorn: `gunicorn gradatlas.service.api.wsgi:app`."""

from gradatlas.service.api import create_app
from gradatlas.service.contracts.logs import use_json_logs

use_json_logs()
app = create_app()
