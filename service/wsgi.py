"""WSGI entry point for gunicorn: `gunicorn service.wsgi:app`."""

from service.api import create_app
from service.logs import use_json_logs

use_json_logs()
app = create_app()
