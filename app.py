"""Enclave's Chalice app: wires each capability's blueprint. No logic lives here."""
from __future__ import annotations

from chalice import Chalice

from chalicelib.apidocs import routes as apidocs
from chalicelib.core import tenancy
from chalicelib.members import routes as members
from chalicelib.tenants import routes as tenants
from chalicelib.tenants import service as tenants_service

app = Chalice(app_name="enclave")
app.api.binary_types = []  # every response is text (JSON, HTML, JS, CSS)

tenancy.register_api_key_verifier(tenants_service.verify_api_key)

app.register_blueprint(apidocs.bp)
app.register_blueprint(tenants.bp, url_prefix="/v1")
app.register_blueprint(members.bp, url_prefix="/v1")
