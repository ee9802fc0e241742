"""The worker's Celery app: the shared configuration plus this side's tasks.
`celery -A worker.celery_app worker -Q cpu` consumes it."""

from service.queue import make_celery
from service.settings import get_settings

app = make_celery(get_settings())
app.conf.include = ["worker.tasks"]
