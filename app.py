"""ekspress: EKS clusters on request. This module only registers the blueprints."""

from __future__ import annotations

from chalice import Chalice

from chalicelib.api import api
from chalicelib.schedules import schedules
from chalicelib.slackapp import slack_routes
from chalicelib.tasks import tasks

app = Chalice(app_name="ekspress")
app.register_blueprint(api)
app.register_blueprint(tasks)
app.register_blueprint(schedules)
app.register_blueprint(slack_routes)
