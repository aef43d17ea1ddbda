"""ekspress: EKS clusters on request. This module only registers the blueprints."""

from __future__ import annotations

from chalice import Chalice

from chalicelib.handlers.api import api
from chalicelib.handlers.pool_routes import pool_routes
from chalicelib.handlers.schedules import schedules
from chalicelib.handlers.slack_routes import slack_routes
from chalicelib.handlers.stack_events import stack_events_handlers
from chalicelib.handlers.tasks import tasks

app = Chalice(app_name="ekspress")
app.register_blueprint(api)
app.register_blueprint(tasks)
app.register_blueprint(schedules)
app.register_blueprint(slack_routes)
app.register_blueprint(pool_routes)
app.register_blueprint(stack_events_handlers)
