"""The PTO application's front door: an HTTP API and a web page on Ray Serve, reaching the agents only
through the bus, for the person whose bearer token it verified."""

from .deployment import Gateway, GatewaySettings, gateway_app
from .tokens import InvalidToken, Person, Tokens, people_of

__all__ = ["Gateway", "GatewaySettings", "InvalidToken", "Person", "Tokens", "gateway_app", "people_of"]
